"""GGUF facts from the header alone, cached by path, size and mtime: equal to gguf-py's full read, never stale."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from models.gguf_info import FILE_TYPES, GGML_SIZES, cached_gguf_info, parse_header, read_gguf_info
from models.llamacpp import locate
from podium.errors import ConfigError


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    from podium.settings import Settings

    return locate("smollm2-135m", Settings(home=tmp_path_factory.mktemp("gguf-home")))[0]


def write_gguf(path: Path, layers: int, name: str = "tiny") -> None:
    """A small valid GGUF written with gguf-py: one F32 tensor and a few facts."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_block_count(layers)
    writer.add_context_length(128)
    writer.add_tensor("w", np.ones((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_header_facts_equal_gguf_py_full_read(smollm2):
    from gguf import GGUFReader, LlamaFileType

    reader = GGUFReader(str(smollm2), "r")
    info = read_gguf_info(smollm2)
    assert info["parameters"] == sum(int(t.n_elements) for t in reader.tensors)
    assert info["vocab_size"] == len(reader.fields["tokenizer.ggml.tokens"].data)
    assert info["architecture"] == reader.fields["general.architecture"].contents()
    assert info["layers"] == reader.fields["llama.block_count"].contents() == 30
    assert info["context_length"] == reader.fields["llama.context_length"].contents()
    file_type = reader.fields["general.file_type"].contents()
    assert info["quantization"] == LlamaFileType(file_type).name.removeprefix("MOSTLY_") == "Q4_1"
    assert info["chat_template"] is True and info["file_size"] == smollm2.stat().st_size


def test_type_tables_match_gguf_py():
    from gguf import GGML_QUANT_SIZES, LlamaFileType

    assert {int(k): tuple(v) for k, v in GGML_QUANT_SIZES.items()} == GGML_SIZES
    named = {f.value: f.name.removeprefix("MOSTLY_") for f in LlamaFileType if f.name != "GUESSED"}
    assert named == FILE_TYPES


@pytest.mark.parametrize("keep", [30, 2_000, 600_000, 5_000_000])
def test_truncated_gguf_is_the_one_line_error(smollm2, tmp_path, keep):
    """Cut in the counts, in the metadata, inside the vocabulary, and in the tensor data."""
    cut = tmp_path / "cut.gguf"
    with open(smollm2, "rb") as f:
        cut.write_bytes(f.read(keep))
    with pytest.raises(ConfigError, match="not a valid GGUF") as info:
        read_gguf_info(cut)
    assert info.value.hint and "\n" not in info.value.message


def test_metadata_without_architecture_is_rejected(tmp_path):
    """llama.cpp cannot load a GGUF that names no architecture: no partial model card."""
    key, value = b"general.name", b"nameless"
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    data += struct.pack("<IQ", 8, len(value)) + value
    bad = tmp_path / "nameless.gguf"
    bad.write_bytes(data)
    assert parse_header(bad)["general.name"] == "nameless"
    with pytest.raises(ConfigError, match="no general.architecture"):
        read_gguf_info(bad)


def test_cache_entry_of_a_changed_file_is_never_used(tmp_path):
    model, cache = tmp_path / "tiny.gguf", tmp_path / "cache"
    write_gguf(model, layers=2)
    assert cached_gguf_info(model, cache)["layers"] == 2
    assert json.loads((cache / "gguf.json").read_text())  # remembered
    stat = model.stat()
    write_gguf(model, layers=3)  # same size, other facts
    assert model.stat().st_size == stat.st_size
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    assert cached_gguf_info(model, cache)["layers"] == 3
    with open(model, "r+b") as f:  # cut short after it was cached
        f.truncate(40)
    with pytest.raises(ConfigError, match="not a valid GGUF"):
        cached_gguf_info(model, cache)


def test_cache_hit_reads_no_header(tmp_path, monkeypatch):
    import models.gguf_info as gguf_info

    model, cache = tmp_path / "tiny.gguf", tmp_path / "cache"
    write_gguf(model, layers=2, name="first")
    first = cached_gguf_info(model, cache)
    monkeypatch.setattr(gguf_info, "parse_header", lambda path: pytest.fail("the header was read again"))
    assert cached_gguf_info(model, cache) == first


def test_unreadable_cache_is_ignored(tmp_path):
    model, cache = tmp_path / "tiny.gguf", tmp_path / "cache"
    write_gguf(model, layers=4)
    cache.mkdir()
    (cache / "gguf.json").write_text("{not json")
    assert cached_gguf_info(model, cache)["layers"] == 4
    assert json.loads((cache / "gguf.json").read_text())  # rewritten whole
