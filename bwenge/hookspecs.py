"""Every hook Bwenge calls, in one module. Each docstring is the hook's reference.

Three families of names:

* ``register_<things>(register)`` — contribute things to a registry the kernel
  owns. Call ``register(...)`` once per thing; the kernel rejects duplicate
  names and lists installed names when config asks for one that doesn't exist.
* ``before_/after_<noun>_<verb>`` and ``on_<noun>_error`` — lifecycle and events.
  Every implementation is called; results are ignored unless stated. ``before_*``
  hooks may raise a :class:`bwenge.errors.BwengeError` to refuse the action.
* ``<x>_from_<y>`` — resolvers.

Any hook implementation may be a plain function, return an awaitable, or be an
``async def``: the kernel resolves all three (``await_me_maybe``). Hook
arguments are passed by name, so an implementation may accept only the ones it
needs.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("bwenge")


# --------------------------------------------------------------------------
# Configuration, storage and the command line
# --------------------------------------------------------------------------


@hookspec
def register_settings(register):
    """Declare this plugin's configuration section.

    Call ``register(section, model)`` where ``section`` is the top-level key in
    ``config/settings.toml`` (and the ``BWENGE_<SECTION>__<KEY>`` env vars) and
    ``model`` a pydantic ``BaseModel``/``BaseSettings`` subclass, ideally with
    ``extra="forbid"`` and ``SecretStr`` for secrets. The kernel validates the
    section at start-up and stops with a message naming the key, the value and
    where it came from. The validated model is ``kernel.settings_for(section)``.
    """


@hookspec
def register_migrations(register):
    """Declare a folder of Alembic migration scripts for this plugin's tables.

    Call ``register(path)`` with the folder's path. Each plugin keeps its own
    branch: its first revision has ``down_revision = None`` and a
    ``branch_labels`` tuple naming the plugin. ``bwenge db upgrade`` upgrades
    every branch to its head. Plugins do not put foreign keys on other
    plugins' tables (a persona may live in a non-SQL store).
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``bwenge`` command line.

    ``cli`` is the root ``typer.Typer``; add commands or sub-apps to it. Called
    before configuration is loaded, so commands must load the kernel themselves
    (``bwenge.cli.load_kernel()``).
    """


@hookspec
def register_permissions(register):
    """Add rows to the permission table for this plugin's actions.

    Call ``register(action, roles)`` with an action name such as
    ``"quiz.grade"`` and an iterable of :class:`bwenge.domain.Role`
    (:mod:`bwenge.permissions` has shorthands: ``EVERYONE``, ``STAFF``,
    ``ADMINS``, ``OWNERS``). Every plugin, built-in ones included, registers the
    actions its routes name; an action may not be registered twice.
    """


@hookspec
def register_services(register):
    """Declare the services this plugin provides, and what each needs.

    Call ``register(name, factory, provides=Contract, needs=("other", ...),
    optional=("maybe", ...), replace=False, lazy=False)``. ``provides`` is the type other
    plugins rely on: a :mod:`bwenge.contracts` protocol for a service other plugins
    use, the plugin's own class for one only it uses. The kernel calls
    ``factory(kernel, **services)`` once, with every ``needs`` service and every
    ``optional`` one (``None`` when no plugin provides it) as keyword arguments
    named like the services. It builds all services at start-up (the REST transport:
    when it builds the app), each after what it needs, before any ``after_app_start``;
    a loaded kernel that is not started builds a service (and what it needs) on first
    ``kernel.services.get(name)``.
    ``lazy=True`` services are built on first use only, never at start-up (a backend
    that configuration may not pick, e.g. a vector store).

    Loading refuses a service that ``needs`` a name no plugin provides, and services
    that need each other in a cycle, naming them. Two plugins may declare the same
    name only when one passes ``replace=True``: that one wins, whatever the plugin
    order (a third party replacing a built-in, e.g. the ``retriever``).
    """


@hookspec
def register_readiness_checks(register):
    """Contribute dependency checks to the readiness report (``GET /health/ready``).

    Call ``register(name, check)`` where ``check(kernel)`` returns (or awaits)
    ``None`` when healthy and raises, or returns an error string, when not. A
    healthy check may return a dict of details instead (``{"workers": 2}``), shown
    beside ``"status": "ok"``.
    """


@hookspec
def register_deployment_checks(register):
    """Contribute checks of whether this configuration can be served by several
    worker processes (``bwenge serve --workers N``): state a plugin keeps in one
    process's memory, a store only one process may open.

    Call ``register(name, check)`` where ``check(kernel, workers)`` returns a list
    of problems, each a string naming the setting that fixes it (or ``None`` / an
    empty list). ``bwenge serve`` refuses to start while any check returns one;
    ``bwenge config check --workers N`` lists them.
    """


@hookspec
def register_storage_locations(register):
    """Name the places a plugin writes to, so they are checked before the server
    starts and while it runs (``GET /health/ready``, check ``storage``).

    Call ``register(name, locate)`` where ``locate(kernel)`` returns a
    :class:`bwenge.storage.StorageLocation` (path and the setting that chooses
    it), a list of them, or ``None`` when nothing local is written (e.g. a remote
    store). Start-up stops with one line naming the path and the setting when a
    location refuses writes; ``data_dir`` and a SQLite database are always checked.
    """


# --------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------


@hookspec
def after_app_start(kernel):
    """Called once the kernel has loaded config, plugins, registries and the
    database. Start background work here (and stop it in ``before_app_stop``)."""


@hookspec
def before_app_stop(kernel):
    """Called when the application shuts down, before the database closes."""


@hookspec
def before_server_start(kernel, workers):
    """``bwenge serve`` is about to start serving, in the parent process, before
    any worker process exists (``workers`` is their number). Prepare state the
    workers share, e.g. a folder for multi-process metrics, and set environment
    variables the workers inherit. Not called when an app is built another way
    (tests, ``uvicorn --factory``)."""


# --------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------


@hookspec
def register_transports(register):
    """Contribute a transport: the way recipients and experts reach Bwenge.

    Call ``register(name, factory)`` where ``factory(kernel)`` returns an ASGI
    application. ``server.transport`` in config names the one ``bwenge serve``
    runs (``rest`` is built in).
    """


@hookspec
def register_routes(register, kernel):
    """Contribute HTTP/WebSocket routes to the REST transport.

    Call ``register(router)`` with a ``fastapi.APIRouter``. Each route must
    depend on ``bwenge_rest.require(action)`` (or be marked public) so the
    permission table covers it.
    """


@hookspec
def register_middleware(register, kernel):
    """Wrap the REST transport's ASGI application in middleware.

    Call ``register(middleware_class, **options)``; the class follows Starlette's
    pure-ASGI shape (``__init__(app, **options)``, ``async __call__(scope, receive,
    send)``). Registered middleware runs outside the transport's own request-id
    middleware, so it sees every request, its final status and, once the inner app
    has routed it, ``scope["route"]`` (the matched route and its path template).
    It runs on every request: keep it cheap."""


@hookspec
def before_request_authorize(kernel, event):
    """An authenticated caller is about to perform a permission-checked action
    (every route using ``require``). Raise to refuse, e.g.
    :class:`bwenge.errors.TooManyRequests` for a rate limit. Runs on every
    request, so keep it cheap. ``event.data``: ``action``, ``method``, ``path``
    and ``principal`` (the :class:`bwenge.domain.Principal`)."""


@hookspec
def register_authenticators(register):
    """Contribute an authenticator to the chain that identifies callers.

    Call ``register(name, authenticator)``. An authenticator has
    ``authenticate(credentials, kernel)`` (sync or async) that receives the
    transport-neutral :class:`bwenge.domain.Credentials` (bearer token, API key,
    cookies, client address; the REST and chat transports build it) and returns a
    :class:`bwenge.domain.Principal`, returns ``None`` when the credentials are
    not its kind, or raises :class:`bwenge.errors.Unauthorized` when they are
    its kind but invalid. ``auth.authenticators`` in config orders the chain.
    """


# --------------------------------------------------------------------------
# Personas, knowledge and answers
# --------------------------------------------------------------------------


@hookspec
def sources_from_persona(kernel, persona):
    """The persona's knowledge sources, for its readiness report.

    Return a list of ``{"source_id", "title", "status", "chunk_count"}`` dicts (or
    models with those fields); the report joins every plugin's lists. ``None`` from
    every plugin (or no implementation) means no knowledge plugin is active.
    Called from a worker thread; must be synchronous.
    """


@hookspec(firstresult=True)
def exam_from_persona(kernel, persona):
    """The persona's exam summary (:class:`bwenge.contracts.exams.ExamSummary` or a
    dict of its fields) for its readiness report; the first non-``None`` wins.
    Called from a worker thread; must be synchronous.
    """


@hookspec(firstresult=True)
def answer_from_persona_question(kernel, persona, question):
    """Answer ``question`` as ``persona`` without storing it (a readiness report's
    sample dialog): an :class:`bwenge.contracts.answers.Answer`, or an awaitable of
    one. The first non-``None`` wins; ``None`` everywhere means no answer engine.
    """


@hookspec
def register_persona_stores(register):
    """Contribute a persona store. Call ``register(name, factory)`` where
    ``factory(kernel)`` returns an object satisfying
    :class:`bwenge.contracts.PersonaStore`. ``personas.store`` names the one used;
    ``bwenge.testing`` has contract tests a store can run."""


@hookspec
def register_loaders(register):
    """Contribute knowledge loaders.

    Call ``register(reader, extensions=(".csv",), media_types=("text/csv",),
    name=None)`` where ``reader`` is a
    ``llama_index.core.readers.base.BaseReader``. Any LlamaHub reader plugs in
    unchanged. The reader's ``load_data(file=Path, extra_info=dict)`` runs in a
    child process with a time and memory limit.

    ``reader`` may also be ``"package.module:ReaderClass"`` (a class taking no
    arguments, or an instance): it is imported in the parser child process when a
    file of its type is ingested, so the server never pays for llama-index or the
    format libraries. The built-in loaders do this.
    """


@hookspec
def register_embedders(register):
    """Contribute an embedding model. Call ``register(name, factory)`` where
    ``factory(kernel)`` returns a :class:`bwenge.contracts.Embedder`.
    ``knowledge.embedder`` names the one used."""


@hookspec
def register_vector_stores(register):
    """Contribute a vector store. Call ``register(name, factory)`` where
    ``factory(kernel)`` returns a :class:`bwenge.contracts.VectorStore`.
    ``knowledge.vector_store`` names the one used."""


@hookspec
def register_blob_stores(register):
    """Contribute a blob store: where uploaded files and avatar models live. Call
    ``register(name, factory)`` where ``factory(kernel)`` returns a
    :class:`bwenge.contracts.blobs.BlobStore`. ``blobs.store`` names the one used
    (built in: ``local``, files under the data dir; ``s3``, any S3-compatible
    server); :meth:`bwenge.kernel.Kernel.blob_store` returns it, made once. Contract
    tests: ``bwenge_blobs.testing.BlobStoreContract``."""


@hookspec
def register_rerankers(register):
    """Contribute a reranker. Call ``register(name, factory)`` where
    ``factory(kernel)`` returns a :class:`bwenge.contracts.Reranker`: it orders
    the fused dense + lexical candidates of a query and scores them 0..1.
    ``knowledge.reranker`` names the one used (built in: ``evidence``, offline;
    ``http``, a ``/rerank`` server such as vLLM, TEI or llama.cpp)."""


@hookspec
def register_llm_providers(register):
    """Contribute an LLM provider. Call ``register(name, provider_class)`` where
    the class follows :class:`bwenge.contracts.LLMProvider`: a pydantic
    ``Options`` model (``extra="forbid"``) built from ``llm.providers.<name>``
    config, and an async ``stream(request)`` that yields text chunks (and at
    most one ``Usage``) and raises ``LLMProviderError`` to fail. ``llm.chain``
    names the primary provider and its fallbacks; the chain (service ``"llm"``)
    does retries, fallbacks and the deadline. A class that needs more than its
    options (a loaded embedder, say) may define a classmethod
    ``from_kernel(kernel, options)``, used instead of ``cls(options)``. Contract
    tests: ``bwenge.testing_contracts.LLMProviderContract``."""


@hookspec
def register_payment_providers(register):
    """Contribute a payment provider. Call ``register(name, factory)`` where
    ``factory(kernel)`` returns a :class:`bwenge.contracts.PaymentProvider`."""


@hookspec
def register_mail_senders(register):
    """Contribute a way to send mail (password resets, and any plugin's notices).
    Call ``register(name, factory)`` where ``factory(kernel)`` returns an object
    with ``send(message)`` (sync or async) taking a
    :class:`bwenge.contracts.mail.MailMessage` and raising when it can't deliver.
    ``mail.sender`` names the one used (built in: ``log``, ``smtp``); the chosen
    sender is the ``"mail"`` service."""


# --------------------------------------------------------------------------
# Events: before_* may refuse by raising; after_* and on_*_error observe.
# Each receives ``kernel`` and ``event`` (a bwenge.domain.Event).
# --------------------------------------------------------------------------


@hookspec
def after_org_create(kernel, event):
    """An organisation was created. ``event.data``: ``org_id``, ``name``, ``owner_id``."""


@hookspec
def after_member_join(kernel, event):
    """A user joined an organisation (registration or accepted invite).
    ``event.data``: ``user_id``, ``role``, ``via``."""


@hookspec
def before_member_invite(kernel, event):
    """A member is about to be invited; raise to refuse (e.g. a member quota).
    ``event.data``: ``email``, ``role``."""


@hookspec
def before_member_join(kernel, event):
    """An invitee is about to join by accepting their invite; raise to refuse
    (e.g. no free member seat: the invite stays valid for a later try).
    ``event.data``: ``user_id``, ``role``, ``via`` ("invite").
    When joining then fails, ``on_member_join_error`` follows, so a listener
    that reserved something here can give it back; on success
    ``after_member_join`` follows."""


@hookspec
def on_member_join_error(kernel, event):
    """A join that ``before_member_join`` let through did not happen.
    ``event.data``: ``user_id``, ``via``, ``error`` (a code)."""


@hookspec
def after_member_change(kernel, event):
    """A member's role changed or the member was removed.
    ``event.data``: ``user_id``, ``action`` ("role_change"|"remove"), ``old_role``, ``new_role``."""


@hookspec
def after_persona_change(kernel, event):
    """A persona was created, updated, released, withdrawn (back to draft) or deleted.
    ``event.data``: ``persona_id``, ``persona_name``, ``action``
    ("create"|"update"|"release"|"withdraw"|"delete"); updates carry ``fields``
    (the changed ones); releases carry ``override`` (bool), ``reason`` and
    ``missing`` (what readiness lacked). On "delete" the persona is already gone."""


@hookspec
def before_source_upload(kernel, event):
    """A knowledge file is about to be stored; raise to refuse (e.g. a storage
    quota). ``event.data``: ``persona_id``, ``size_bytes``, ``filename``."""


@hookspec
def on_source_upload_error(kernel, event):
    """Storing an upload failed after ``before_source_upload`` let it through:
    release what was reserved there. ``event.data``: ``persona_id``,
    ``size_bytes``, ``filename``, ``error``."""


@hookspec
def after_source_ingest(kernel, event):
    """A knowledge source finished ingesting. ``event.data``: ``source_id``,
    ``persona_id``, ``chunk_count``, ``size_bytes``, ``seconds``."""


@hookspec
def on_source_ingest_error(kernel, event):
    """A knowledge source failed to ingest; its file and vectors are gone.
    ``event.data``: ``source_id``, ``persona_id``, ``error``, ``size_bytes`` (the
    stored bytes freed; a later delete of the failed source reports 0)."""


@hookspec
def after_source_delete(kernel, event):
    """A knowledge source was deleted (alone, or with its persona). ``event.data``:
    ``source_id``, ``persona_id``, ``size_bytes`` (the stored bytes freed)."""


@hookspec
def after_session_start(kernel, event):
    """A conversation session started. ``event.data``: ``session_id``, ``persona_id``."""


@hookspec
def before_message_answer(kernel, event):
    """A question is about to be answered; raise to refuse (e.g. a message
    quota). ``event.data``: ``persona_id``, ``session_id``, ``exchange_id`` (the
    stored question's id; key anything reserved here by it, so it can be settled
    or released exactly once, even after a crash)."""


@hookspec
def after_message_answer(kernel, event):
    """A question was answered and stored. ``event.data``: ``persona_id``,
    ``session_id``, ``exchange_id``, ``message_id``, ``provider``, ``latency_ms``,
    ``prompt_chars``, ``answer_chars``, ``tokens`` (or None), ``citations``."""


@hookspec
def on_message_answer_error(kernel, event):
    """Answering failed after ``before_message_answer`` let it through; listeners
    that reserved something there release it here. ``event.data``:
    ``persona_id``, ``session_id``, ``exchange_id``, ``error`` (``interrupted``
    for a client that left, and for an exchange a crash interrupted, announced when
    the restarted worker recovers it — possibly more than once: release idempotently)."""


@hookspec
def after_chat_connect(kernel, event):
    """A chat WebSocket was admitted (authenticated, authorised, session open).
    ``event.data``: ``persona_id``, ``session_id``. Exactly one
    ``after_chat_disconnect`` follows for it."""


@hookspec
def after_chat_disconnect(kernel, event):
    """An admitted chat WebSocket closed. ``event.data``: ``persona_id``,
    ``session_id``, ``seconds`` (how long it was open)."""


@hookspec
def after_quota_refuse(kernel, event):
    """A plan's quota refused an action (the caller gets ``quota_exceeded``).
    ``event.data``: ``quota`` ("messages"|"storage"|"members"), ``plan``,
    ``limit``, ``used``, ``requested``."""


@hookspec
def after_subscription_change(kernel, event):
    """An organisation's plan or subscription status changed (payment, cancellation,
    expiry at period end). ``event.data``: ``subscription_id``, ``old_plan``,
    ``new_plan``, ``status``, ``reason`` ("payment"|"cancel"|"period_end"|
    "provider"), ``provider``."""


@hookspec
def after_payment_settle(kernel, event):
    """A transaction (invoice, checkout) was paid: by a provider webhook or by a
    platform admin settling a manual invoice. ``event.user_id`` is the settling
    admin or ``None`` for a webhook. ``event.data``: ``transaction_id``, ``plan``,
    ``amount``, ``currency``, ``provider``, ``reference``."""


# --------------------------------------------------------------------------
# Observability
# --------------------------------------------------------------------------


@hookspec
def after_operation_finish(kernel, event):
    """A timed unit of work finished (see :func:`bwenge.telemetry.operation`): a
    retrieval, one LLM provider attempt, an ingestion stage. ``event.data``:
    ``operation`` (``"retrieval"``, ``"llm.call"``, ``"ingest.parse"``,
    ``"ingest.chunk"``, ``"ingest.embed"``, ``"ingest.write"``, ``"ingest.commit"``),
    ``seconds``, ``error`` (the exception's class name, or ``None``) and the
    operation's attributes (``provider``, ``fallback``, ``persona_id``, ...).

    Called synchronously, in the thread that did the work (often not the event
    loop's), right after it: implementations must be plain functions, cheap and
    thread-safe (a metrics counter, not I/O). Errors are logged and swallowed."""
