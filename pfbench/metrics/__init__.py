"""Quality metrics: FID/KID, VBench-style dimensions, optical flow."""
