"""Fréchet video distance: the StyleGAN-V protocol (I3D Kinetics-400 logits of 16-frame clips) with a PyTorch port of
the I3D checked against the JAX reference's logits.
"""
