"""Flow events pushed to browsers: Authgear's Authentication Flow websocket
(`GET /api/v1/authentication_flows/ws?channel=ws_...`) and the server interface that carries it.

`events` publishes and awaits a channel's `{"kind": "refresh"}`; `server` is the RSGI application
granian serves: the websocket route in asyncio, every other request handed to the Flask (WSGI) app
on a thread pool.
"""
