"""One adapter per diffusers video-transformer family (see base.py for the protocol and time conventions).

Adding a family: subclass DiffusersVelocity here (class name, patch, how to call it, and its time scale if it is
not ``1000 (1 - t)`` with a noise - data prediction), register it in FAMILIES, and give a card a ``diffusers`` field
naming the class and its config (pfbench/accounting/cards/).
"""
from __future__ import annotations

from types import MappingProxyType

import torch

from pfbench.models.base import DiffusersVelocity


class WanVelocity(DiffusersVelocity):
    """Wan2.1 (diffusers WanTransformer3DModel): latents (B, C, T, H, W), umT5 text embeddings."""

    family, class_name = "wan", "WanTransformer3DModel"

    @staticmethod
    def patch(config):
        return config.patch_size[0], config.patch_size[1]

    @staticmethod
    def text_dim(config):
        return config.text_dim

    def predict(self, x, timestep, text):
        return self.transformer(hidden_states=x, timestep=timestep, encoder_hidden_states=text, return_dict=False)[0]

    @staticmethod
    def reduce(config, layers, heads, head_dim, text_dim):
        ratio = config["ffn_dim"] / (config["num_attention_heads"] * config["attention_head_dim"])
        return {**config, "num_layers": layers, "num_attention_heads": heads, "attention_head_dim": head_dim,
                "ffn_dim": int(ratio * heads * head_dim), "text_dim": text_dim}


class LTXVideoVelocity(DiffusersVelocity):
    """LTX-Video (diffusers LTXVideoTransformer3DModel): packed tokens (B, L, C), RoPE at the VAE's pixel scale
    (as LTXPipeline calls it, 25 fps)."""

    family, class_name = "ltx-video", "LTXVideoTransformer3DModel"
    frame_rate = 25

    @staticmethod
    def patch(config):
        return config.patch_size_t, config.patch_size

    @staticmethod
    def text_dim(config):
        return config.caption_channels

    def predict(self, x, timestep, text):
        B, C, T, H, W = x.shape
        pt, p = self.cfg.patch_t, self.cfg.patch_size
        packed = (x.reshape(B, C, T // pt, pt, H // p, p, W // p, p).permute(0, 2, 4, 6, 1, 3, 5, 7)
                  .flatten(4, 7).flatten(1, 3))                                     # (B, L, C pt p p)
        mask = torch.ones(B, text.shape[1], device=x.device, dtype=x.dtype)        # (B, Nt)
        vt, vs = self.vae
        out = self.transformer(hidden_states=packed, encoder_hidden_states=text, timestep=timestep,
                               encoder_attention_mask=mask, num_frames=T // pt, height=H // p, width=W // p,
                               rope_interpolation_scale=(vt / self.frame_rate, vs, vs), return_dict=False)[0]
        return (out.reshape(B, T // pt, H // p, W // p, -1, pt, p, p).permute(0, 4, 1, 5, 2, 6, 3, 7)
                .reshape(B, -1, T, H, W))                                           # (B, C, T, H, W)

    @staticmethod
    def reduce(config, layers, heads, head_dim, text_dim):
        return {**config, "num_layers": layers, "num_attention_heads": heads, "attention_head_dim": head_dim,
                "cross_attention_dim": heads * head_dim, "caption_channels": text_dim}


class HunyuanVideoVelocity(DiffusersVelocity):
    """HunyuanVideo (diffusers HunyuanVideoTransformer3DModel): LLM text tokens, a pooled CLIP vector (zeros or
    seeded like the text) and, for the guidance-distilled model, guidance 6.0 x 1000 as HunyuanVideoPipeline feeds."""

    family, class_name = "hunyuanvideo", "HunyuanVideoTransformer3DModel"
    guidance = 6.0

    def __init__(self, transformer, text_tokens, text="zeros", seed=0, vae=(4, 8)):
        super().__init__(transformer, text_tokens, text, seed, vae)
        from pfbench.models.base import text_tensor
        self.register_buffer("pooled", text_tensor((1, transformer.config.pooled_projection_dim), text, seed + 1,
                                                   self.text.device, self.text.dtype), persistent=False)

    @staticmethod
    def patch(config):
        return config.patch_size_t, config.patch_size

    def predict(self, x, timestep, text):
        B = x.shape[0]
        mask = torch.ones(B, text.shape[1], device=x.device, dtype=torch.bool)      # (B, Nt)
        guidance = (torch.full((B,), self.guidance * 1000.0, device=x.device, dtype=x.dtype)
                    if self.transformer.config.guidance_embeds else None)
        return self.transformer(hidden_states=x, timestep=timestep, encoder_hidden_states=text,
                                encoder_attention_mask=mask, pooled_projections=self.pooled.expand(B, -1),
                                guidance=guidance, return_dict=False)[0]

    @staticmethod
    def reduce(config, layers, heads, head_dim, text_dim):
        axes_t = head_dim // 8 * 2 if head_dim >= 16 else 2          # RoPE axes (t, h, w) must sum to head_dim
        axes_hw = (head_dim - axes_t) // 2
        return {**config, "num_layers": max(1, layers // 2), "num_single_layers": max(1, layers - layers // 2),
                "num_refiner_layers": 1, "num_attention_heads": heads, "attention_head_dim": head_dim,
                "rope_axes_dim": [axes_t, axes_hw, head_dim - axes_t - axes_hw], "text_embed_dim": text_dim,
                "pooled_projection_dim": text_dim}


class MochiVelocity(DiffusersVelocity):
    """Mochi-1 (diffusers MochiTransformer3DModel). Its scheduler inverts sigmas (FlowMatchEulerDiscreteScheduler
    with invert_sigmas=True, as diffusers' Mochi conversion builds it): the model is fed 1000 t and predicts data -
    noise, pfbench's velocity itself."""

    family, class_name = "mochi", "MochiTransformer3DModel"
    time_scale = "timestep = 1000 t; velocity = +prediction (data - noise)"

    @staticmethod
    def patch(config):
        return 1, config.patch_size

    def __init__(self, transformer, text_tokens, text="zeros", seed=0, vae=(6, 8)):
        super().__init__(transformer, text_tokens, text, seed, vae)
        if self.text.device.type == "meta":   # torch.autocast has no meta device: the same fp32 RoPE without it
            transformer.rope._create_rope = _mochi_rope_fp32

    def timestep(self, t):
        return 1000.0 * t

    def velocity(self, prediction, x, t):
        return prediction

    def predict(self, x, timestep, text):
        mask = torch.ones(x.shape[0], text.shape[1], device=x.device, dtype=torch.bool)  # (B, Nt)
        return self.transformer(hidden_states=x, encoder_hidden_states=text, timestep=timestep,
                                encoder_attention_mask=mask, return_dict=False)[0]

    @staticmethod
    def reduce(config, layers, heads, head_dim, text_dim):
        return {**config, "num_layers": layers, "num_attention_heads": heads, "attention_head_dim": head_dim,
                "pooled_projection_dim": heads * head_dim // 2, "text_embed_dim": text_dim}


def _mochi_rope_fp32(freqs: torch.Tensor, pos: torch.Tensor):
    """MochiRoPE._create_rope without its autocast context (already fp32), for counting on the meta device."""
    freqs = torch.einsum("nd,dhf->nhf", pos.to(torch.float32), freqs.to(torch.float32))
    return torch.cos(freqs), torch.sin(freqs)


class CogVideoXVelocity(DiffusersVelocity):
    """CogVideoX (diffusers CogVideoXTransformer3DModel), a v-prediction diffusion model, not flow matching.

    Its discrete VP schedule (alphas_cumprod of CogVideoXDDIMScheduler: scaled-linear betas 0.00085-0.012, zero
    terminal SNR, snr_shift_scale 1.0 for the 5B model) is mapped onto pfbench's straight path by the change of
    variables x_vp = x / n, alpha = t / n, sigma = (1 - t) / n with n = sqrt(t^2 + (1 - t)^2) (same signal-to-noise
    ratio); the model is fed the continuous timestep of that ratio (interpolated in the table) and its v turns into
    velocity = x0 - eps with x0 = alpha x_vp - sigma v, eps = sigma x_vp + alpha v. DDIM on CogVideoX's own grid
    is then exactly Euler on pfbench's path at the matching times (tests/test_models_schedulers.py)."""

    family, class_name = "cogvideox", "CogVideoXTransformer3DModel"
    time_scale = "VP v-prediction mapped to the straight path (same SNR); velocity = x0 - eps"
    scheduler = MappingProxyType(dict(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", rescale_betas_zero_snr=True,
        snr_shift_scale=1.0, prediction_type="v_prediction", set_alpha_to_one=True, timestep_spacing="trailing",
        clip_sample=False, num_train_timesteps=1000))

    def __init__(self, transformer, text_tokens, text="zeros", seed=0, vae=(4, 8)):
        super().__init__(transformer, text_tokens, text, seed, vae)
        from diffusers import CogVideoXDDIMScheduler
        ab = CogVideoXDDIMScheduler(**self.scheduler).alphas_cumprod.double()           # (1000,) decreasing
        a, s = ab.sqrt(), (1 - ab).sqrt()
        self.table_t = (a / (a + s)).flip(0)                                             # (1000,) increasing t
        self.table_step = torch.arange(len(ab) - 1, -1, -1, dtype=torch.float64)         # its timesteps

    @staticmethod
    def patch(config):
        return config.patch_size_t or 1, config.patch_size

    def timestep(self, t):
        """pfbench time -> CogVideoX's continuous timestep with the same SNR (linear in the table)."""
        if t.device.type == "meta":
            return (1000.0 * (1.0 - t)).float()            # counting: same shape, no values
        tt, steps = self.table_t.to(t.device), self.table_step.to(t.device)
        t64 = t.double().clamp(float(self.table_t[0]), float(self.table_t[-1]))
        i = torch.searchsorted(tt, t64).clamp(1, len(tt) - 1)
        w = (t64 - tt[i - 1]) / (tt[i] - tt[i - 1])
        return (steps[i - 1] + w * (steps[i] - steps[i - 1])).float()

    def forward(self, latents, layout, t, y=None, output="all"):
        x = self.whole_clip(latents, layout)                                          # (B, C, T, h, w)
        B = x.shape[0]
        t = (t.reshape(-1).expand(B) if t.numel() == 1 else t).to(torch.float64)        # (B,)
        n = (t * t + (1 - t) * (1 - t)).sqrt()
        alpha, sigma = (t / n).view(B, 1, 1, 1, 1), ((1 - t) / n).view(B, 1, 1, 1, 1)
        x_vp = x / n.view(B, 1, 1, 1, 1).to(x.dtype)                                  # VP point, same SNR
        v = self.predict(x_vp, self.timestep(t), self.text.expand(B, -1, -1))         # the model's own v
        alpha, sigma = alpha.to(v.dtype), sigma.to(v.dtype)
        x0, eps = alpha * x_vp - sigma * v, sigma * x_vp + alpha * v
        return [x0 - eps]

    def predict(self, x, timestep, text):
        _, _, T, H, W = x.shape
        config = self.transformer.config
        rope = None
        if config.use_rotary_positional_embeddings:
            from diffusers.models.embeddings import get_3d_rotary_pos_embed
            from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid
            gh, gw = H // config.patch_size, W // config.patch_size
            crops = get_resize_crop_region_for_grid((gh, gw), config.sample_width // config.patch_size,
                                                    config.sample_height // config.patch_size)
            rope = get_3d_rotary_pos_embed(embed_dim=config.attention_head_dim, crops_coords=crops, grid_size=(gh, gw),
                                           temporal_size=T, device=x.device)
        out = self.transformer(hidden_states=x.permute(0, 2, 1, 3, 4), encoder_hidden_states=text,
                               timestep=timestep, image_rotary_emb=rope, return_dict=False)[0]  # (B, T, C, H, W)
        return out.permute(0, 2, 1, 3, 4)

    @staticmethod
    def reduce(config, layers, heads, head_dim, text_dim):
        return {**config, "num_layers": layers, "num_attention_heads": heads, "attention_head_dim": head_dim,
                "time_embed_dim": max(16, heads * head_dim // 6), "text_embed_dim": text_dim}


FAMILIES: dict[str, type[DiffusersVelocity]] = {
    cls.class_name: cls for cls in (WanVelocity, LTXVideoVelocity, HunyuanVideoVelocity, MochiVelocity,
                                    CogVideoXVelocity)}


def adapter_class(class_name: str) -> type[DiffusersVelocity]:
    if class_name not in FAMILIES:
        raise ValueError(f"no pfbench adapter for diffusers class {class_name!r}: adapters exist for "
                         f"{', '.join(FAMILIES)} (pfbench/models/families.py)")
    return FAMILIES[class_name]
