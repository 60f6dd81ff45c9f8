"""The video front end: reading and writing clips (``io``) and the colour conversions of video planes
(``color``).

    from vcodec.video import open_video, VideoWriter
    with open_video("clip.mp4", max_frames=100) as clip, VideoWriter("out.mkv", clip.width, clip.height,
                                                                     clip.fps, source=clip) as out:
        for frame in clip:          # (H, W, 3) uint8 RGB, one at a time
            out.write(frame)

Names load on first use: importing the package pulls in neither PyAV nor torch.
"""

_LAZY = {
    "open_video": ("vcodec.video.io", "open_video"),
    "VideoSource": ("vcodec.video.io", "VideoSource"),
    "VideoWriter": ("vcodec.video.io", "VideoWriter"),
    "is_video_path": ("vcodec.video.io", "is_video_path"),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vcodec.video' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
