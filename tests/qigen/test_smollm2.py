"""SmolLM2 end to end (slow): our 4-bit kernels inside transformers. Oracles: the fp32 model's
perplexity on held-out text (stated margin: within 15%), and a factual question whose answer the
fp32 model gets right."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm():
    pytest.importorskip("transformers")
    from mlroundup.models import ModelUnavailableError, load_smollm2

    try:
        return load_smollm2()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))


def test_quantized_smollm2_perplexity_and_text(lm):
    import copy

    from mlroundup.qigen.evaluate import generate, help_text, perplexity, token_windows
    from mlroundup.qigen.nn import QuantLinear, quantize_model

    windows = token_windows(lm.tokenizer, help_text("eval"), 128, 2)
    ppl_fp32 = perplexity(lm.model, windows)
    model = quantize_model(copy.deepcopy(lm.model), 4, 128, "rtn")
    assert sum(isinstance(m, QuantLinear) for m in model.modules()) == 30 * 7
    ppl_q4 = perplexity(model, windows)
    assert ppl_q4 < 1.15 * ppl_fp32, (ppl_q4, ppl_fp32)
    text, n, _ = generate(model, lm.tokenizer, "What is the capital of France?", 12)
    assert "Paris" in text and n > 0
