"""Hook implementations of the chat plugin: real-time chat over WebSocket."""

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import ChatSettings

    register("chat", ChatSettings)


@hookimpl
def register_deployment_checks(register):
    def chat(kernel, workers):
        if workers > 1 and not kernel.core.redis_url:
            return [
                "chat: WebSocket tickets, connection limits and the fan-out of answers to a "
                "session's sockets live in one worker's memory; set redis_url so the workers "
                "share them"
            ]
        return None

    register("chat", chat)


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    register(router)


@hookimpl
def register_commands(cli):
    from .cli import chat

    cli.command("chat")(chat)


@hookimpl
async def after_app_start(kernel):
    from .service import ChatHub

    hub = ChatHub(kernel, kernel.settings_for("chat"))
    await hub.start()
    kernel.provide("chat", hub)


@hookimpl
async def before_app_stop(kernel):
    hub = kernel.services.get("chat")
    if hub is not None:
        await hub.stop()  # stays provided while draining, so new sockets get a clear 1001
        kernel.services.pop("chat", None)


@hookimpl
def register_permissions(register):
    from bwenge.permissions import EVERYONE

    register("chat.connect", EVERYONE)
