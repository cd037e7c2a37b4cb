"""Access without SDKs in the application: Key Vault secrets for pipelines and apps, and scale-set
instances that delete themselves (`pysteps secret ...`, `pysteps self-destroy`)."""
