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
def register_services(register):
    from .service import ChatHub

    def make_hub(kernel, answers, personas) -> ChatHub:
        return ChatHub(kernel, kernel.settings_for("chat"), answers, personas)

    register("chat", make_hub, provides=ChatHub, needs=("answers",), optional=("personas",))


@hookimpl
async def after_app_start(kernel):
    await kernel.services["chat"].start()


@hookimpl
async def before_app_stop(kernel):
    hub = kernel.services["chat"]
    if hub.running:
        await hub.stop()  # running while draining, so new sockets get a clear 1001


@hookimpl
def register_permissions(register):
    from bwenge.permissions import EVERYONE

    register("chat.connect", EVERYONE)
