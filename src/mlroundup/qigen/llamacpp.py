"""llama.cpp as a peer: random-weight LLaMA GGUF files, its quantizer, and its decode speed.

Used only by ``mlroundup bench qigen`` and only when ``llama_cpp`` (llama-cpp-python, built by
``scripts/build_llama_cpp.sh``) is importable. Speed does not depend on weight values, so a model
of a given shape is written with random float16 weights by the ``gguf`` package (tokenizer fields
copied from the shipped SmolLM2 GGUF so llama.cpp can load it) and quantized by llama.cpp's own
quantizer; our side runs the same layer shapes with random codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LlamaShape:
    """Shapes of a LLaMA-architecture decoder."""

    name: str
    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int = 49152  # the copied SmolLM2 tokenizer's

    def linears(self) -> list[tuple[int, int]]:
        """(N, K) of every linear layer of one decode step, output head included."""
        kv = self.hidden // self.heads * self.kv_heads
        h, f = self.hidden, self.ffn
        per_layer = [(h, h), (kv, h), (kv, h), (h, h), (f, h), (f, h), (h, f)]
        return per_layer * self.layers + [(self.vocab, h)]


TINYLLAMA = LlamaShape("TinyLlama-1.1B shapes", 2048, 5632, 22, 32, 4)
LLAMA7B = LlamaShape("LLaMA-7B shapes", 4096, 11008, 32, 32, 32)


def write_random_gguf(path: Path, shape: LlamaShape, seed: int = 0) -> Path:
    """Write a float16 GGUF of ``shape`` with random N(0, 0.02) weights (ones for the norms).

    Tensors are generated and written one at a time (the header lists them first), so memory
    holds one tensor, not the model: LLaMA-7B shapes are 13.8 GB of float16, more than many
    machines' RAM.
    """
    import gguf

    from mlroundup.models import gguf_path

    src = gguf.GGUFReader(str(gguf_path()))
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(shape.layers)
    w.add_context_length(2048)
    w.add_embedding_length(shape.hidden)
    w.add_feed_forward_length(shape.ffn)
    w.add_head_count(shape.heads)
    w.add_head_count_kv(shape.kv_heads)
    w.add_rope_dimension_count(shape.hidden // shape.heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    field = src.fields
    w.add_tokenizer_model(field["tokenizer.ggml.model"].contents())
    w.add_tokenizer_pre(field["tokenizer.ggml.pre"].contents())
    w.add_token_list(field["tokenizer.ggml.tokens"].contents())
    w.add_token_types(field["tokenizer.ggml.token_type"].contents())
    w.add_token_merges(field["tokenizer.ggml.merges"].contents())
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    h, f = shape.hidden, shape.ffn
    kv = h // shape.heads * shape.kv_heads
    # (name, NumPy shape (rows, cols), random or ones); GGUF lists dims fastest-first, the
    # writer reverses them
    tensors = [("token_embd.weight", (shape.vocab, h), True), ("output_norm.weight", (h,), False),
               ("output.weight", (shape.vocab, h), True)]  # fmt: skip
    for i in range(shape.layers):
        b = f"blk.{i}."
        tensors += [(b + "attn_norm.weight", (h,), False), (b + "ffn_norm.weight", (h,), False),
                    (b + "attn_q.weight", (h, h), True), (b + "attn_k.weight", (kv, h), True),
                    (b + "attn_v.weight", (kv, h), True), (b + "attn_output.weight", (h, h), True),
                    (b + "ffn_gate.weight", (f, h), True), (b + "ffn_up.weight", (f, h), True),
                    (b + "ffn_down.weight", (h, f), True)]  # fmt: skip
    for name, dims, rand in tensors:
        dt = np.dtype(np.float16 if rand else np.float32)
        w.add_tensor_info(name, dims, dt, int(np.prod(dims)) * dt.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for _name, dims, rand in tensors:
        if rand:
            w.write_tensor_data(
                (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float16)
            )
        else:
            w.write_tensor_data(np.ones(dims, np.float32))
    w.close()
    return path


def quantize_gguf(src: Path, dst: Path, ftype: str = "Q4_0", threads: int = 2) -> Path:
    """Quantize ``src`` to ``dst`` with llama.cpp's own quantizer (``llama_model_quantize``)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src} -> {ftype}) failed with {rc}")
    return dst


def decode_weight_bytes(path: Path) -> int:
    """Bytes of a GGUF's tensors that one decoding step of llama.cpp reads: every tensor but the
    token embedding (one row is looked up per token), which is read whole only when the model
    has no ``output.weight`` (a tied output layer); the norm vectors count too (a few KB, where
    :attr:`~mlroundup.qigen.decode.QuantizedLlama.weight_bytes` leaves them out). Divided by a
    read bandwidth it gives the memory-bound time per token.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If the file is not a GGUF (names the path).
    """
    import gguf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    try:
        reader = gguf.GGUFReader(str(path))
    except ValueError as exc:
        raise ValueError(f"{path} is not a readable GGUF file: {exc}") from None
    tensors = {t.name: int(t.n_bytes) for t in reader.tensors}
    if "output.weight" in tensors:
        tensors.pop("token_embd.weight", None)
    return sum(tensors.values())


def bench_prompt(n: int) -> list[int]:
    """The prompt both sides process in speed measurements: ``n`` fixed token ids."""
    return [3 + (i * 37) % 4000 for i in range(n)]


def interleaved_speed(
    systems: dict, n_prompt: int, n_decode: int, passes: int = 3
) -> dict[str, tuple[float, float]]:
    """Decode and prompt speed of several systems, measured in alternation.

    Each pass runs every system once, one after the other: ``reset()``, ``run(prompt)`` on the
    :func:`bench_prompt` of ``n_prompt`` tokens, then ``n_decode`` calls ``run([token])``. The
    best pass of each system is kept, so slow phases of a shared machine (which come and go
    within seconds here) hit every system alike instead of whichever ran during them.

    Parameters
    ----------
    systems : dict of str to (reset, run)
        Callables of each system, e.g. ``(llm.reset, llm.eval)`` of a ``llama_cpp.Llama`` or
        ``(dec.reset, dec.forward)`` of a :class:`~mlroundup.qigen.decode.QuantizedLlama`.

    Returns
    -------
    dict of str to (float, float)
        Per system: (seconds per decoded token, prompt tokens per second).
    """
    prompt = bench_prompt(n_prompt)
    best = {name: (float("inf"), 0.0) for name in systems}
    for _ in range(passes):
        for name, (reset, run) in systems.items():
            reset()
            t0 = time.perf_counter()
            run(prompt)
            tps = n_prompt / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(n_decode):
                run([100 + i])
            t_tok = (time.perf_counter() - t0) / n_decode
            best[name] = (min(best[name][0], t_tok), max(best[name][1], tps))
    return best


def open_llama_cpp(path: Path, threads: int, n_ctx: int, n_batch: int):
    """A ``llama_cpp.Llama`` on ``path`` with ``threads`` threads for decoding and prompts."""
    import llama_cpp

    return llama_cpp.Llama(
        model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
        n_batch=max(n_batch, 8), verbose=False,
    )  # fmt: skip
