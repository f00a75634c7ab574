"""The capability tree, its short names, the predefined pools and the catalogue's capability groups.

Owns the canonical tree of SPEC §4 (categories → groups → leaves; models register at leaves, a pool
targeting any node serves every leaf under it) and name resolution: every node answers to its short
name (``chat-completion``, unique in the tree) and its full dotted ID
(``generation.text-generation.chat-completion``). It does not know about models or providers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from modelmesh.errors import ConfigError, UnknownNameError

# Category -> {group: [leaves]} or, for a leaf directly under a category, group -> None.
_CANONICAL: dict[str, dict[str, list[str] | None]] = {
    "generation": {
        "text-generation": ["chat-completion", "text-completion", "code-generation"],
        "structured-generation": ["json-generation", "schema-constrained-output", "function-call-generation"],
        "image-generation": ["text-to-image", "image-to-image", "inpainting"],
        "audio-generation": ["text-to-speech", "music-generation"],
        "video-generation": ["text-to-video", "image-to-video"],
    },
    "understanding": {
        "text-understanding": ["summarization", "classification", "sentiment-analysis", "entity-extraction"],
        "vision-understanding": ["image-captioning", "object-detection", "ocr"],
        "audio-understanding": ["speech-to-text", "speaker-identification", "audio-classification"],
        "document-understanding": ["document-parsing", "table-extraction", "form-extraction"],
    },
    "transformation": {
        "translation": None,
        "rewriting": None,
        "style-transfer": None,
        "image-editing": ["background-removal", "upscaling", "format-conversion"],
        "audio-processing": ["noise-reduction", "voice-cloning", "audio-separation"],
    },
    "representation": {
        "embeddings": ["text-embeddings", "image-embeddings", "multimodal-embeddings"],
        "tokenization": None,
        "feature-extraction": None,
    },
    "retrieval": {
        "search": ["semantic-search", "web-search", "image-search", "code-search"],
        "knowledge-graph": ["graph-query", "entity-linking", "relation-extraction"],
        "rag": ["retrieval-augmented-generation", "grounded-generation"],
        "reranking": None,
    },
    "interaction": {
        "tool-calling": None,
        "agent-execution": ["single-step-agent", "multi-step-agent"],
        "multi-turn-conversation": None,
    },
    "evaluation": {
        "content-moderation": None,
        "toxicity-detection": None,
        "factuality-checking": None,
        "quality-scoring": None,
    },
}

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class CapabilityTree:
    """A mutable capability tree; ``default_tree()`` hands out fresh copies of the canonical one."""

    def __init__(self) -> None:
        self._children: dict[str, list[str]] = {}  # full ID -> child full IDs, in insertion order
        self._by_short: dict[str, str] = {}  # short name -> full ID
        self._builtin_leaves: frozenset[str] = frozenset()

    # -- building ---------------------------------------------------------------------------------

    def add(self, dotted_id: str) -> str:
        """Add a custom node below an existing parent (or a new top-level category); returns its ID.

        Re-adding an existing node is a no-op. Built-in leaves cannot gain children: models already
        register there, and turning them into groups would silently change what a pool serves.
        """
        full_id = dotted_id.strip()
        segments = full_id.split(".")
        bad = [s for s in segments if not _SEGMENT.match(s)]
        if bad:
            raise ConfigError(
                f"invalid capability ID {dotted_id!r}: "
                "segments must be lower-case letters, digits, '-' or '_'"
            )
        if full_id in self._children:
            return full_id
        parent = ".".join(segments[:-1])
        if parent and parent not in self._children:
            raise ConfigError(
                f"cannot add capability {full_id!r}: parent {parent!r} does not exist (add the parent first)"
            )
        if parent in self._builtin_leaves:
            raise ConfigError(f"cannot add capability {full_id!r}: {parent!r} is a built-in leaf")
        short = segments[-1]
        if short in self._by_short:
            raise ConfigError(
                f"cannot add capability {full_id!r}: short name {short!r} is already used by "
                f"{self._by_short[short]!r}"
            )
        self._children[full_id] = []
        self._by_short[short] = full_id
        if parent:
            self._children[parent].append(full_id)
        return full_id

    def copy(self) -> CapabilityTree:
        clone = CapabilityTree()
        clone._children = {node: list(children) for node, children in self._children.items()}
        clone._by_short = dict(self._by_short)
        clone._builtin_leaves = self._builtin_leaves
        return clone

    # -- queries ----------------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        """The full dotted ID of a node given its short name or full ID."""
        key = name.strip() if isinstance(name, str) else name
        if key in self._children:
            return key
        if key in self._by_short:
            return self._by_short[key]
        # A dotted name is compared with full IDs so that "Did you mean" can fix a path typo.
        valid = self._children if isinstance(key, str) and "." in key else self._by_short
        raise UnknownNameError("capability", str(name), valid)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._children or name in self._by_short)

    def is_leaf(self, name: str) -> bool:
        return not self._children[self.resolve(name)]

    def leaves_under(self, name: str) -> frozenset[str]:
        """Full IDs of the leaves under a node; a leaf yields itself."""
        return frozenset(self._iter_leaves(self.resolve(name)))

    def _iter_leaves(self, node: str) -> Iterator[str]:
        children = self._children[node]
        if not children:
            yield node
        for child in children:
            yield from self._iter_leaves(child)

    def children(self, name: str) -> tuple[str, ...]:
        return tuple(self._children[self.resolve(name)])

    def parent(self, name: str) -> str | None:
        full_id = self.resolve(name)
        return full_id.rpartition(".")[0] or None

    def short_name(self, full_id: str) -> str:
        """The last segment of a node's ID (accepts a short name too)."""
        return self.resolve(full_id).rpartition(".")[2]

    def nodes(self) -> tuple[str, ...]:
        """Every node's full ID, parents before children."""
        return tuple(self._children)

    def leaves(self) -> frozenset[str]:
        return frozenset(node for node, children in self._children.items() if not children)

    def short_names(self) -> tuple[str, ...]:
        return tuple(self._by_short)

    def __len__(self) -> int:
        return len(self._children)

    def __repr__(self) -> str:
        return f"CapabilityTree({len(self)} nodes, {len(self.leaves())} leaves)"


def _build_canonical() -> CapabilityTree:
    tree = CapabilityTree()
    for category, groups in _CANONICAL.items():
        tree.add(category)
        for group, leaves in groups.items():
            group_id = tree.add(f"{category}.{group}")
            for leaf in leaves or ():
                tree.add(f"{group_id}.{leaf}")
    tree._builtin_leaves = tree.leaves()
    return tree


_CANONICAL_TREE = _build_canonical()


def default_tree() -> CapabilityTree:
    """A fresh copy of the canonical tree, so custom nodes never leak between meshes."""
    return _CANONICAL_TREE.copy()


# -- predefined pools ------------------------------------------------------------------------------

PREDEFINED_POOLS: dict[str, str] = {
    "text-generation": "generation.text-generation",
    "structured-generation": "generation.structured-generation",
    "image-generation": "generation.image-generation",
    "embeddings": "representation.embeddings",
    "speech-to-text": "understanding.audio-understanding.speech-to-text",
    "text-to-speech": "generation.audio-generation.text-to-speech",
    "vision-understanding": "understanding.vision-understanding",
}


def resolve_pool(name: str) -> str:
    """The capability node (full ID) a predefined pool targets."""
    if name in PREDEFINED_POOLS:
        return PREDEFINED_POOLS[name]
    raise UnknownNameError("pool", name, PREDEFINED_POOLS)


# -- capability groups (the provider table's shorthand) --------------------------------------------

_CHAT_LEAVES = (
    "chat-completion", "text-completion", "code-generation",
    "json-generation", "schema-constrained-output", "function-call-generation",
    "summarization", "classification", "sentiment-analysis", "entity-extraction",
    "translation", "rewriting", "style-transfer",
    # An LLM is the generating half of RAG; retrieval itself is the caller's.
    "retrieval-augmented-generation", "grounded-generation",
    "tool-calling", "single-step-agent", "multi-step-agent", "multi-turn-conversation",
)  # fmt: skip

CAPABILITY_GROUPS: dict[str, frozenset[str]] = {
    group: frozenset(_CANONICAL_TREE.resolve(leaf) for leaf in leaves)
    for group, leaves in {
        "chat": _CHAT_LEAVES,
        "embeddings": ("text-embeddings",),
        "audio": ("text-to-speech", "speech-to-text"),
        "images": ("text-to-image",),
        "vision": ("image-captioning", "ocr"),
    }.items()
}


def expand_capabilities(names: str | Iterable[str], tree: CapabilityTree | None = None) -> frozenset[str]:
    """Full leaf IDs for groups (``chat``), short names and dotted IDs, in any mix.

    A group name wins over a tree node of the same name: ``embeddings`` here means text embeddings,
    the shorthand of the provider table, not every leaf under ``representation.embeddings``.
    """
    tree = tree or _CANONICAL_TREE
    leaves: set[str] = set()
    for name in [names] if isinstance(names, str) else names:
        if name in CAPABILITY_GROUPS:
            leaves |= CAPABILITY_GROUPS[name]
        elif name in tree:
            leaves |= tree.leaves_under(name)
        else:
            valid = [*CAPABILITY_GROUPS, *tree.short_names()] if "." not in name else tree.nodes()
            raise UnknownNameError("capability", name, valid)
    return frozenset(leaves)
