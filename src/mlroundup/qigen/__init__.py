"""QIGen: generated, autotuned CPU kernels for group-quantized LLM inference.

Pegolotti, Frantar, Alistarh, Püschel. "QIGen: Generating Efficient Kernels for Quantized
Inference on Large Language Models." arXiv 2307.03738.

Modules, by concern: :mod:`~mlroundup.qigen.quant` (RTN and GPTQ group-wise quantization, the
NumPy oracle), :mod:`~mlroundup.qigen.layout` (bit-packing and the streaming tile layout),
:mod:`~mlroundup.qigen.codegen` (one C skeleton, one vocabulary per ISA),
:mod:`~mlroundup.qigen.kernels` (compile, bind, autotune), :mod:`~mlroundup.qigen.nn`
(``QuantLinear`` and ``quantize_model``).
"""
