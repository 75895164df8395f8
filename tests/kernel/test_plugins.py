"""Registries, hook loading and events, through in-process plugins."""

import pytest
from pydantic import BaseModel, ConfigDict

from bwenge import hookimpl
from bwenge.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError


class Echo:
    """A provider-like object registered under a name."""


class PluginA:
    __name__ = "plugin_a"

    @hookimpl
    def register_llm_providers(self, register):
        register("echo", Echo)


class PluginB:
    __name__ = "plugin_b"

    @hookimpl
    def register_llm_providers(self, register):
        register("echo", Echo)


def test_duplicate_names_are_rejected_naming_both_plugins(make_kernel):
    with pytest.raises(DuplicateNameError) as err:
        make_kernel(plugins=[PluginA(), PluginB()])
    assert "plugin_a" in str(err.value) and "plugin_b" in str(err.value)


def test_unknown_name_lists_what_is_installed(make_kernel):
    kernel = make_kernel(plugins=[PluginA()])
    assert kernel.llm_providers.get("echo") is Echo
    with pytest.raises(UnknownNameError) as err:
        kernel.llm_providers.get("gpt-9")
    assert "gpt-9" in str(err.value) and "echo" in str(err.value)


class Misspelt:
    __name__ = "misspelt"

    @hookimpl
    def register_llm_provider(self, register):  # missing "s"
        pass


def test_misspelt_hook_fails_at_start_up(make_kernel):
    with pytest.raises(PluginError, match="register_llm_provider"):
        make_kernel(plugins=[Misspelt()])


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = 3


class WithSettings:
    __name__ = "with_settings"

    @hookimpl
    def register_settings(self, register):
        register("gadget", Settings)


def test_plugin_section_is_validated(make_kernel):
    kernel = make_kernel(plugins=[WithSettings()], gadget={"level": 7})
    assert kernel.settings_for("gadget").level == 7
    with pytest.raises(ConfigError) as err:
        make_kernel(plugins=[WithSettings()], gadget={"level": "high"})
    assert "gadget.level" in err.value.message and "'high'" in err.value.message
    with pytest.raises(ConfigError, match="gadget.levle"):
        make_kernel(plugins=[WithSettings()], gadget={"levle": 1})


class Listener:
    __name__ = "listener"

    def __init__(self):
        self.seen = []

    @hookimpl
    async def after_source_ingest(self, kernel, event):  # async implementation
        self.seen.append(("async", event.data["source_id"]))

    @hookimpl
    def after_member_join(self, event):  # sync, and takes only what it needs
        self.seen.append(("sync", event.data["user_id"]))

    @hookimpl
    def before_message_answer(self, event):
        if event.data.get("persona_id") == "blocked":
            from bwenge.errors import PaymentRequired

            raise PaymentRequired("quota reached")


class Broken:
    __name__ = "broken"

    @hookimpl
    def after_source_ingest(self, event):
        raise RuntimeError("listener bug")


async def test_events_reach_sync_and_async_listeners(make_kernel):
    listener = Listener()
    kernel = make_kernel(plugins=[listener, Broken()])
    await kernel.emit("after_source_ingest", org_id="o", source_id="s1")
    await kernel.emit("after_member_join", org_id="o", user_id="u1")
    assert ("async", "s1") in listener.seen and ("sync", "u1") in listener.seen
    from bwenge.errors import PaymentRequired

    with pytest.raises(PaymentRequired):
        await kernel.emit("before_message_answer", org_id="o", persona_id="blocked")
    await kernel.emit("before_message_answer", org_id="o", persona_id="fine")


class Carrier:
    """Leaves a value on the before_* event; reads it back on the after_* event."""

    __name__ = "carrier"

    def __init__(self):
        self.found = []

    @hookimpl
    def before_message_answer(self, event):
        event.state["carrier"] = event.data["persona_id"]

    @hookimpl
    def after_message_answer(self, event):
        self.found.append(event.state.get("carrier"))


async def test_state_travels_from_before_to_after_of_one_operation(make_kernel):
    carrier = Carrier()
    kernel = make_kernel(plugins=[carrier])
    before = await kernel.emit("before_message_answer", org_id="o", persona_id="p1")
    assert before.state["carrier"] == "p1"  # beside what other listeners (billing) left
    await kernel.emit("after_message_answer", org_id="o", state=before.state)
    await kernel.emit("after_message_answer", org_id="o")  # another operation: fresh state
    assert carrier.found == ["p1", None]
    assert "state" not in before.data


async def test_events_go_through_pluggy_and_unknown_names_are_refused(make_kernel):
    from bwenge import hookspecs

    listener = Listener()
    kernel = make_kernel(plugins=[listener])
    traced: list[str] = []
    undo = kernel.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: traced.append(name), lambda *a: None
    )
    try:
        event = await kernel.emit(hookspecs.after_source_ingest, org_id="o", source_id="s2")
        kernel.notify("after_member_join", org_id="o", user_id="u2")
    finally:
        undo()
    assert "after_source_ingest" in traced and "after_member_join" in traced
    assert ("async", "s2") in listener.seen and ("sync", "u2") in listener.seen
    assert event.name == "source_ingest"  # the hook's name without its prefix
    with pytest.raises(PluginError, match="after_sorce_ingest"):
        await kernel.emit("after_sorce_ingest", org_id="o")


def test_unknown_plugin_in_config_is_an_error(make_kernel):
    with pytest.raises(UnknownNameError, match="no-such-plugin"):
        make_kernel(overrides={"plugins": {"disabled": ["no-such-plugin"]}})


def test_allow_list_loads_only_named_plugins(make_kernel):
    kernel = make_kernel(overrides={"plugins": {"enabled": ["rest"]}})
    active = {p.name for p in kernel.plugin_infos() if p.active}
    assert active == {"rest"}
    assert kernel.pm.get_plugin("rest") is not None
    assert "rest" in kernel.transports
