"""An Azure Resource Manager emulator that the real az CLI talks to over HTTPS.

It keeps resources in memory, enforces the rules Azure enforces on the calls pysteps makes, and
answers with Azure's shapes, error codes and long-running-operation protocol. Routing and HTTP
live in `web`, resource storage in `store`, tokens in `identity`, long-running operations in
`operations`, fault injection in `faults`; each resource provider is a module of `providers`.
"""
