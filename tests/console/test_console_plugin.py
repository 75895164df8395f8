"""The console is an ordinary plugin: configurable, and replaceable by disabling it."""

from bwenge_rest.app import create_app
from bwenge_rest.deps import PUBLIC_ROUTE
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from bwenge import hookimpl


class OtherConsole:
    """A third party's console, served where the built-in one was."""

    @hookimpl
    def register_routes(self, register):
        router = APIRouter()

        @router.get("/console/", include_in_schema=False, **PUBLIC_ROUTE)
        async def page():
            return HTMLResponse("<!doctype html><title>Another console</title>")

        register(router)


def test_served_where_configured(make_kernel):
    with TestClient(create_app(make_kernel(console={"path": "/app"}))) as client:
        page = client.get("/app/")
        assert page.status_code == 200 and 'src="js/app.js"' in page.text
        root = client.get("/", follow_redirects=False)
        assert (root.status_code, root.headers["location"]) == (307, "/app/")
        assert client.get("/console/").status_code == 404


def test_disabled_and_replaced_by_another_plugin(make_kernel):
    kernel = make_kernel(plugins=[OtherConsole()], overrides={"plugins": {"disabled": ["console"]}})
    with TestClient(create_app(kernel)) as client:
        assert "Another console" in client.get("/console/").text
        assert client.get("/console/js/app.js").status_code == 404
        assert client.get("/", follow_redirects=False).status_code == 404
