"""JSON shapes of the API: domain objects in, plain dicts out, one module per area.

The domain (``booths``, ``streaming``) returns objects; how they look on the
wire (``/api/``, pages' embedded data) is decided here, next to the routes
that send them and the OpenAPI document that describes them (``web.openapi``).
"""
