#!/usr/bin/python3
"""The bench peer for `quickread prepare`: the same work with pydicom + GDCM + numpy + Pillow.

Decode (pixel data via pydicom's handlers, GDCM first for compressed syntaxes), middle frame, modality
LUT, VOI (the dataset's window or VOI LUT, else a 0.5-99.5 percentile window), MONOCHROME1 inversion,
palette and YBR to RGB, resize so the longest side is at most --size with both sides floored to a
multiple of 32 (Lanczos), and write an 8-bit PNG at zlib level 1 (quickread's setting). Raster inputs: EXIF orientation, greyscale or RGB,
16-bit greyscale windowed by percentile. Prints one line per input: "ok" or "fail <reason>".

Run with Debian's Python: /usr/bin/python3 bench/ingest/peer.py FILE... --out DIR [--size 1024]
"""
import argparse
import os
import sys

import numpy as np
import pydicom
from PIL import Image, ImageOps
from pydicom.pixel_data_handlers import gdcm_handler, numpy_handler, pillow_handler, rle_handler
from pydicom.pixel_data_handlers.util import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    convert_color_space,
)

# GDCM decodes every compressed syntax pydicom 2.3 meets here; numpy/RLE for native data.
pydicom.config.pixel_data_handlers = [numpy_handler, rle_handler, gdcm_handler, pillow_handler]


def fit(width, height, size):
    longest = max(width, height)
    target = min(size, longest)

    def snap(side):
        scaled = target if side == longest else side * target / longest
        return max(32, int(scaled // 32) * 32)

    return snap(width), snap(height)


def percentile_window(values):
    flat = values.ravel()
    stride = max(1, flat.size // 1_000_000)
    lo, hi = np.percentile(flat[::stride], [0.5, 99.5])
    return (lo + hi) / 2, max(hi - lo, 1)


def linear_window(values, center, width):
    # PS3.3 C.11.2.1.2.1
    out = ((values - (center - 0.5)) / max(width - 1, 1) + 0.5) * 255
    return np.clip(out, 0, 255).astype(np.uint8)


def first(value):
    # Window Center/Width may hold several values (VM 1-n): the first is the default (PS3.3 C.11.2.1.2)
    return float(value[0]) if isinstance(value, (list, pydicom.multival.MultiValue)) else float(value)


def dicom_pixels(ds):
    arr = ds.pixel_array
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[frames // 2]
    photometric = str(ds.PhotometricInterpretation)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        return (rgb / 257).astype(np.uint8) if rgb.dtype != np.uint8 else rgb
    if int(ds.SamplesPerPixel) == 3:
        if photometric.startswith("YBR") and photometric not in ("YBR_RCT", "YBR_ICT"):
            arr = convert_color_space(arr, photometric, "RGB")
        return arr.astype(np.uint8) if arr.dtype == np.uint8 else np.clip(arr, 0, 255).astype(np.uint8)
    values = apply_modality_lut(arr, ds)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        out = linear_window(values.astype(np.float64), first(ds.WindowCenter), first(ds.WindowWidth))
    elif "VOILUTSequence" in ds:
        shown = apply_voi_lut(values, ds).astype(np.float64)
        lo, hi = float(shown.min()), float(shown.max())
        out = linear_window(shown, (lo + hi) / 2, max(hi - lo, 1))
    else:
        center, width = percentile_window(values)
        out = linear_window(values.astype(np.float64), center, width)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out


def raster_pixels(path):
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I"):
            values = np.asarray(image, dtype=np.float64)
            center, width = percentile_window(values)
            return linear_window(values, center, width)
        if image.mode in ("L", "LA", "1"):
            return np.asarray(image.convert("L"))
        return np.asarray(image.convert("RGB"))


def prepare(path, out_dir, size):
    with open(path, "rb") as handle:
        head = handle.read(132)
    if head[128:132] == b"DICM" or head[:2] in (b"\x08\x00", b"\x02\x00"):
        ds = pydicom.dcmread(path, force=True)
        if "PixelData" not in ds:
            raise ValueError("no pixel data")
        if "TransferSyntaxUID" not in ds.file_meta:
            # a bare dataset (no File Meta): the syntax is what dcmread found when it guessed
            ds.file_meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian if ds.is_implicit_VR else pydicom.uid.ExplicitVRLittleEndian
            )
        pixels = dicom_pixels(ds)
    else:
        pixels = raster_pixels(path)
    image = Image.fromarray(pixels)
    width, height = fit(image.width, image.height, size)
    if (width, height) != image.size:
        image = image.resize((width, height), Image.LANCZOS)
    name = os.path.splitext(os.path.basename(path))[0] + ".png"
    # zlib level 1, as quickread writes its PNGs (src/ingest/prepare-encode.ts): the same encode effort.
    image.save(os.path.join(out_dir, name), compress_level=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for path in args.files:
        try:
            prepare(path, args.out, args.size)
            print("ok")
        except Exception as error:  # a coded refusal in quickread; here: count it and go on
            failed += 1
            print("fail", type(error).__name__)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
