"""pysteps: bake Azure VM images with their data and roll them out to scale sets, from Jenkins."""

__version__ = "0.1.0"
