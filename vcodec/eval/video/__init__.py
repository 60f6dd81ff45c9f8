"""Video evaluation: learned and classical video codecs on clips, per frame and per clip.

    codecs   the VideoCodec contract (encode frames -> bitstream + bytes per frame; decode bitstream -> frames),
             the x264 / x265 anchors through PyAV and vcodec all-intra, by name
    metrics  PSNR-RGB, PSNR-Y/U/V and YUV-PSNR per frame, bpp
    runner   clip x codecs x qualities -> cached measurements -> RD curves and per-frame records
    report   BD-rate tables (PSNR-RGB and YUV-PSNR), the RD plot, the per-frame plot
    cli      ``vcodec eval-video``
"""
