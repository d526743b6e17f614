"""--profile: categories of kernel/op names, a breakdown that sums to the wall time, files written."""
import json

import pytest
import torch
import torch.nn.functional as F

from pfbench.measure.profiling import breakdown, categorize, profile_steps


@pytest.mark.parametrize("name,category", [
    ("aten::mm", "matmul"), ("aten::addmm", "matmul"), ("sm90_xmma_gemm_bf16bf16_bf16f32", "matmul"),
    ("ampere_bf16_s16816gemm_bf16_128x128", "matmul"), ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
    ("triton_tem_fused_flex_attention_0", "attention"), ("pytorch_flash::flash_fwd_kernel", "attention"),
    ("fmha_cutlassF_bf16_aligned_64x64", "attention"), ("aten::gelu", "elementwise"),
    ("triton_poi_fused_add_mul_0", "elementwise"),
])
def test_categorize(name, category):
    assert categorize(name) == category


def test_breakdown_accounts_for_the_whole_wall_time():
    rows = breakdown({"attention": 2e5, "matmul": 5e5, "elementwise": 1e5}, wall_s=1.0, cuda=True)
    assert [r["category"] for r in rows] == ["attention", "matmul", "elementwise", "launch_gaps"]
    assert sum(r["seconds"] for r in rows) == pytest.approx(1.0) and rows[-1]["share"] == pytest.approx(0.2)


def test_profile_steps_on_cpu_writes_a_trace_and_a_table(tmp_path):
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    q = torch.randn(1, 2, 128, 32)

    def step():
        F.scaled_dot_product_attention(q, q, q)
        return (a @ b).relu()

    result = profile_steps(step, "cpu", tmp_path, "toy", steps=2)
    shares = {r["category"]: r["share"] for r in result["rows"]}
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)
    assert shares["matmul"] > 0 and shares["attention"] > 0
    assert json.loads(result["trace"].read_text())["traceEvents"]
    assert "| matmul |" in result["table"].read_text()
