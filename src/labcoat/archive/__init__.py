"""The shared preprint archive (AgentRxiv): many labs publish reports, and read and cite each other's.

`labcoat archive serve` runs the service (`service.create_app`); runs use it
through `client.ArchiveClient`.
"""
