"""The field's video transformers (diffusers) behind pfbench's velocity protocol: adapters, builders from
architecture cards, and FLOPs counted on the real module."""
