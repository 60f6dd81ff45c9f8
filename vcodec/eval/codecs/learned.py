"""vcodec itself, seen by the evaluation suite like any other codec.

Imported lazily: the classical codecs must run while the model is still being written or trained.
The rate is the whole vcodec bitstream (header included), exactly what ``compress`` returns.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vcodec.eval.codecs.base import ImageCodec, register_codec
from vcodec.eval.errors import CodecUnavailableError
from vcodec.errors import VcodecError


def _effort_text(level: int) -> str:
    """What an effort level does, for the description (and so the result cache's key)."""
    from vcodec.coding.effort import effort

    e = effort(level)
    if not e.iterations:
        return "rounding" + (" + RDO" if e.rdo else "")
    synthesis = (f", the synthesis every {e.distortion_every}{' on a second thread' if e.background else ''}"
                 f" (curvature {e.curvature:g} between)" if e.distortion_every > 1 else "")
    scale = f", at {e.lmbda_scale:g} x lambda" if e.lmbda_scale != 1 else ""
    return (f"{e.iterations} SGA+ steps on y{' and z' if e.refine_z else ''}{scale}, lr {e.lr:g} to "
            f"{e.lr * e.lr_end:g}" + synthesis + (" + RDO" if e.rdo else ""))


@register_codec
class Vcodec(ImageCodec):
    name = "vcodec"
    knob = "quality 1-8"
    quality_range = (1, 8)
    integer_quality = False
    default_qualities = (1, 2, 3, 4, 5, 6, 7, 8)

    def __init__(self, model: str | None = None, device: str = "cpu", rdo: bool = False, effort: int = 4):
        try:
            import vcodec

            kwargs = {"device": device, "rdo": rdo, "effort": effort} | ({} if model is None else {"model": model})
            self._codec = vcodec.Codec(**kwargs)
        except VcodecError:
            raise
        except Exception as e:  # the model is work in progress: say why, do not crash the run
            raise CodecUnavailableError(f"codec 'vcodec' is not usable: {type(e).__name__}: {e}") from e
        self._version = getattr(vcodec, "__version__", "?")
        self._device = device

    @property
    def description(self) -> str:
        from vcodec.coding.latent import RDO_WEIGHT

        model = getattr(self._codec, "name", "default model")
        # The weights digest and the quantisation key the result cache: either change is re-measured.
        digest = getattr(self._codec, "digest", None)
        if isinstance(digest, bytes):
            digest = digest.hex()
        return (
            f"vcodec {self._version}, model {model}"
            + (f" (weights {digest})" if digest else "")
            + f", device {self._device}, "
            + (f"RDO quantisation (weight {RDO_WEIGHT:g})" if self._codec.rdo else "plain rounding")
            + f", effort {self._codec.effort} ({_effort_text(self._codec.effort)})"
            + "; whole bitstream with header; decoded to 8-bit RGB"
        )

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        return self._codec.compress(rgb, quality=quality)

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        image = self._codec.decompress(data)
        if isinstance(image, Image.Image):
            return np.asarray(image.convert("RGB"))
        return np.asarray(image)


@register_codec
class VcodecTopEffort(Vcodec):
    """vcodec at its highest encoder effort (latent refinement; vcodec.coding.effort), the same decoder:
    the row that shows what the encoder's search buys against the default."""

    name = "vcodec-e9"

    def __init__(self, model: str | None = None, device: str = "cpu", rdo: bool = False, effort: int = 9):
        super().__init__(model, device, rdo, effort)
