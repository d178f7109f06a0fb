"""A modelport server: ``app`` wires the layers into one ASGI app (and the gRPC server), ``runner``
runs it under uvicorn, ``ray_serve`` as a Ray Serve application, ``demo`` seeds the demo models and
``address`` records where a server of a home listens, for the CLI.

Nothing is imported here: the CLI reads ``address`` on every command, and must not import uvicorn,
grpc or FastAPI to do so.
"""
