"""The choices shown in the preferences and the import options (no bpy)."""

from __future__ import annotations

TOPOLOGY_ITEMS = [
    ('bfm', "BFM", "Basel Face Model topology: 38,365 vertices, 76,073 triangles"),
    ('grid', "UV Grid", "A grid over the 43,867 position-map face pixels"),
]
TEXTURE_SIZE_ITEMS = [(s, s, f"{s} x {s} texture") for s in ("256", "512", "1024", "2048")]
LANDMARK_ITEMS = [
    ('EMPTIES', "Empties", "68 named empties (<face>_LM_00_jaw_R ...) parented to the face"),
    ('VERTEX_GROUPS', "Vertex Groups", "68 one-vertex groups on the face mesh"),
    ('NONE', "None", "No landmarks"),
]
POSE_ITEMS = [
    ('ORIGINAL', "Original", "The head pose seen in the photo"),
    ('FRONTAL', "Frontal", "Head rotation removed: the face looks straight down -Y"),
]
DEVICE_ITEMS = [
    ('auto', "Auto", "CUDA if PyTorch sees a GPU, else the CPU"),
    ('cpu', "CPU", "Always the CPU"),
    ('cuda', "CUDA", "An NVIDIA GPU (needs a CUDA build of PyTorch)"),
]
DETECTOR_ITEMS = [
    ('auto', "Auto", "FaceBoxes when its weights are in the assets folder, else dlib's HOG "
                     "detector if installed, else OpenCV's Haar cascades"),
    ('faceboxes', "FaceBoxes", "A CNN detector that also finds turned and tilted heads (needs "
                               "detectors/faceboxes/FaceBoxesProd.pth in the assets folder: "
                               "`prnet fetch-assets`)"),
    ('dlib', "dlib", "dlib's HOG detector (needs the dlib package)"),
    ('haar', "Haar (OpenCV)", "OpenCV's Haar cascades (always available)"),
]
TORCH_VARIANT_ITEMS = [
    ('CPU', "CPU only", "PyTorch's CPU build (~200 MB), works everywhere"),
    ('CUDA126', "CUDA 12.6", "PyTorch with CUDA 12.6 for NVIDIA GPUs (~2.5 GB)"),
    ('CUDA128', "CUDA 12.8", "PyTorch with CUDA 12.8 for recent NVIDIA GPUs (~2.5 GB)"),
    ('PYPI', "PyPI default", "PyPI's build (CUDA on Linux, CPU/MPS on macOS and Windows)"),
]
