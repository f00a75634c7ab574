"""The capability tree: names, leaves, custom nodes, predefined pools and capability groups."""

from __future__ import annotations

import pytest

from modelmesh.capabilities import (
    CAPABILITY_GROUPS,
    PREDEFINED_POOLS,
    CapabilityTree,
    default_tree,
    expand_capabilities,
    resolve_pool,
)
from modelmesh.errors import ConfigError, UnknownNameError

TREE = default_tree()
ALL_NODES = TREE.nodes()

# SPEC §4, written out independently of the module's own table.
SPEC_LEAVES = {
    "generation.text-generation": ["chat-completion", "text-completion", "code-generation"],
    "generation.structured-generation": [
        "json-generation", "schema-constrained-output", "function-call-generation",
    ],
    "generation.image-generation": ["text-to-image", "image-to-image", "inpainting"],
    "generation.audio-generation": ["text-to-speech", "music-generation"],
    "generation.video-generation": ["text-to-video", "image-to-video"],
    "understanding.text-understanding": [
        "summarization", "classification", "sentiment-analysis", "entity-extraction",
    ],
    "understanding.vision-understanding": ["image-captioning", "object-detection", "ocr"],
    "understanding.audio-understanding": ["speech-to-text", "speaker-identification", "audio-classification"],
    "understanding.document-understanding": ["document-parsing", "table-extraction", "form-extraction"],
    "transformation": ["translation", "rewriting", "style-transfer"],
    "transformation.image-editing": ["background-removal", "upscaling", "format-conversion"],
    "transformation.audio-processing": ["noise-reduction", "voice-cloning", "audio-separation"],
    "representation.embeddings": ["text-embeddings", "image-embeddings", "multimodal-embeddings"],
    "representation": ["tokenization", "feature-extraction"],
    "retrieval.search": ["semantic-search", "web-search", "image-search", "code-search"],
    "retrieval.knowledge-graph": ["graph-query", "entity-linking", "relation-extraction"],
    "retrieval.rag": ["retrieval-augmented-generation", "grounded-generation"],
    "retrieval": ["reranking"],
    "interaction": ["tool-calling", "multi-turn-conversation"],
    "interaction.agent-execution": ["single-step-agent", "multi-step-agent"],
    "evaluation": ["content-moderation", "toxicity-detection", "factuality-checking", "quality-scoring"],
}  # fmt: skip
SPEC_LEAF_IDS = {f"{parent}.{leaf}" for parent, leaves in SPEC_LEAVES.items() for leaf in leaves}


def test_tree_leaves_are_exactly_the_spec_leaves():
    assert TREE.leaves() == SPEC_LEAF_IDS


def test_tree_has_the_seven_spec_categories():
    categories = [node for node in ALL_NODES if "." not in node]
    assert categories == [
        "generation", "understanding", "transformation", "representation",
        "retrieval", "interaction", "evaluation",
    ]  # fmt: skip


@pytest.mark.parametrize("full_id", ALL_NODES)
def test_every_node_resolves_by_short_name_and_by_full_id(full_id):
    short = full_id.rpartition(".")[2]
    assert TREE.resolve(short) == full_id
    assert TREE.resolve(full_id) == full_id
    assert TREE.short_name(full_id) == short


def test_short_names_are_unique_across_the_tree():
    shorts = [node.rpartition(".")[2] for node in ALL_NODES]
    assert len(shorts) == len(set(shorts))


def test_leaves_under_a_group_lists_its_leaves_as_full_ids():
    assert TREE.leaves_under("text-generation") == {
        "generation.text-generation.chat-completion",
        "generation.text-generation.text-completion",
        "generation.text-generation.code-generation",
    }


def test_leaves_under_a_leaf_is_the_leaf_itself():
    assert TREE.leaves_under("chat-completion") == {"generation.text-generation.chat-completion"}


def test_leaves_under_a_category_reaches_through_groups():
    leaves = TREE.leaves_under("representation")
    assert "representation.embeddings.text-embeddings" in leaves
    assert "representation.tokenization" in leaves


def test_is_leaf_and_parent():
    assert TREE.is_leaf("ocr") and not TREE.is_leaf("vision-understanding")
    assert TREE.parent("ocr") == "understanding.vision-understanding"
    assert TREE.parent("generation") is None


def test_unknown_short_name_lists_close_matches():
    with pytest.raises(UnknownNameError) as caught:
        TREE.resolve("chat-completon")
    assert caught.value.kind == "capability"
    assert "Did you mean 'chat-completion'" in str(caught.value)
    assert "chat-completion" in caught.value.valid


def test_unknown_dotted_id_suggests_the_full_id():
    with pytest.raises(UnknownNameError, match=r"generation\.text-generation\.chat-completion"):
        TREE.resolve("generation.text-generation.chat-completon")


def test_unknown_name_error_is_a_config_error_and_a_value_error():
    with pytest.raises(ValueError):
        TREE.resolve("nope")
    with pytest.raises(ConfigError):
        TREE.resolve("nope")


# -- custom nodes ----------------------------------------------------------------------------------


def test_custom_category_and_leaf_resolve_both_ways():
    tree = default_tree()
    tree.add("acme")
    tree.add("acme.widget-scoring")
    assert tree.resolve("widget-scoring") == "acme.widget-scoring"
    assert tree.leaves_under("acme") == {"acme.widget-scoring"}


def test_custom_leaf_under_existing_group_joins_its_pools():
    tree = default_tree()
    tree.add("generation.text-generation.poetry")
    assert "generation.text-generation.poetry" in tree.leaves_under("text-generation")


def test_custom_node_with_missing_parent_is_rejected():
    with pytest.raises(ConfigError, match="parent 'acme' does not exist"):
        default_tree().add("acme.widget")


def test_custom_node_with_duplicate_short_name_is_rejected():
    with pytest.raises(ConfigError, match="short name 'ocr' is already used"):
        default_tree().add("generation.ocr")


def test_custom_node_under_a_builtin_leaf_is_rejected():
    with pytest.raises(ConfigError, match="built-in leaf"):
        default_tree().add("generation.text-generation.chat-completion.fast")


def test_custom_node_with_invalid_segment_is_rejected():
    with pytest.raises(ConfigError, match="invalid capability ID"):
        default_tree().add("Acme Widgets")


def test_re_adding_an_existing_node_is_a_no_op():
    tree = default_tree()
    assert tree.add("generation.text-generation") == "generation.text-generation"
    assert len(tree) == len(TREE)


def test_custom_nodes_never_leak_between_default_trees():
    first = default_tree()
    first.add("acme")
    assert "acme" not in default_tree()


def test_copy_is_independent_of_the_original():
    tree = default_tree()
    clone = tree.copy()
    clone.add("acme")
    assert "acme" in clone and "acme" not in tree
    assert isinstance(clone, CapabilityTree)


# -- predefined pools ------------------------------------------------------------------------------


def test_predefined_pools_are_the_seven_of_the_spec():
    assert PREDEFINED_POOLS == {
        "text-generation": "generation.text-generation",
        "structured-generation": "generation.structured-generation",
        "image-generation": "generation.image-generation",
        "embeddings": "representation.embeddings",
        "speech-to-text": "understanding.audio-understanding.speech-to-text",
        "text-to-speech": "generation.audio-generation.text-to-speech",
        "vision-understanding": "understanding.vision-understanding",
    }


@pytest.mark.parametrize("name", PREDEFINED_POOLS)
def test_predefined_pool_targets_a_tree_node(name):
    assert resolve_pool(name) in ALL_NODES
    assert TREE.resolve(name) == resolve_pool(name)


def test_unknown_pool_lists_the_predefined_pools():
    with pytest.raises(UnknownNameError) as caught:
        resolve_pool("text-generaton")
    assert caught.value.kind == "pool"
    assert "Did you mean 'text-generation'" in str(caught.value)
    assert caught.value.valid == sorted(PREDEFINED_POOLS)


# -- capability groups -----------------------------------------------------------------------------


@pytest.mark.parametrize("group", CAPABILITY_GROUPS)
def test_every_group_expands_to_leaves_of_the_tree(group):
    assert CAPABILITY_GROUPS[group]
    assert CAPABILITY_GROUPS[group] <= TREE.leaves()


def test_chat_group_covers_what_a_general_llm_serves():
    chat = CAPABILITY_GROUPS["chat"]
    for leaf in (
        "chat-completion",
        "code-generation",
        "schema-constrained-output",
        "tool-calling",
        "translation",
    ):
        assert TREE.resolve(leaf) in chat
    assert TREE.resolve("text-embeddings") not in chat


def test_expand_capabilities_mixes_groups_short_names_and_dotted_ids():
    expanded = expand_capabilities(["embeddings", "ocr", "generation.audio-generation"])
    assert expanded == {
        "representation.embeddings.text-embeddings",
        "understanding.vision-understanding.ocr",
        "generation.audio-generation.text-to-speech",
        "generation.audio-generation.music-generation",
    }


def test_expand_capabilities_group_name_wins_over_tree_node():
    # "embeddings" in the provider table means text embeddings, not image/multimodal ones too.
    assert expand_capabilities("embeddings") == {"representation.embeddings.text-embeddings"}


def test_expand_capabilities_uses_a_custom_tree():
    tree = default_tree()
    tree.add("acme")
    assert expand_capabilities(["acme"], tree) == {"acme"}


def test_expand_capabilities_rejects_unknown_names_with_suggestions():
    with pytest.raises(UnknownNameError, match="Did you mean 'chat'"):
        expand_capabilities(["chatt"])
