"""Resource providers of the emulator; each module registers its routes and resource types."""
