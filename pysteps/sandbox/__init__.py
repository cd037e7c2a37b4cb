"""A local Azure sandbox: an ARM emulator, Blob (Azurite) and S3 servers, for tests and rehearsals."""
