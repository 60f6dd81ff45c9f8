"""Rate-distortion evaluation: vcodec against the codecs users know.

    metrics      PSNR-RGB, MS-SSIM, bpp; dataset mean as CompressAI
    bjontegaard  BD-rate / BD-PSNR (PCHIP or cubic)
    codecs/      every codec behind one encode/decode contract, by name
    runner       datasets x codecs x qualities -> cached per-image measurements
    curves       RD curves and CompressAI's JSON layout
    report       BD-rate tables and RD plots
    cli          ``vcodec eval``
"""

from vcodec.eval.bjontegaard import bd_psnr, bd_rate
from vcodec.eval.curves import Curve, load_curve
from vcodec.eval.runner import CodecSpec, evaluate

__all__ = ["CodecSpec", "Curve", "bd_psnr", "bd_rate", "evaluate", "load_curve"]
