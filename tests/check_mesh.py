"""What trimesh (PyPI) makes of a mesh file medseg wrote, as JSON on stdout: for each geometry (one
per label in a .glb, else the whole file) whether it is watertight with consistent winding, its
signed volume (positive: normals outward), bounds, and for .glb the node names and colours.
Usage: python3 check_mesh.py FILE"""
import json
import sys

import trimesh


def describe(mesh):
    return {
        "watertight": bool(mesh.is_watertight),
        "winding_consistent": bool(mesh.is_winding_consistent),
        "volume": float(mesh.volume),
        "bounds": mesh.bounds.tolist(),
        "triangles": int(len(mesh.faces)),
    }


path = sys.argv[1]
loaded = trimesh.load(path)
if isinstance(loaded, trimesh.Scene):
    nodes = []
    for name in loaded.graph.nodes_geometry:
        transform, geometry = loaded.graph[name]
        mesh = loaded.geometry[geometry]
        colour = getattr(mesh.visual, "material", None)
        rgba = None
        if colour is not None and getattr(colour, "baseColorFactor", None) is not None:
            rgba = [int(c) for c in colour.baseColorFactor]
        nodes.append({"name": name, "rgba": rgba, **describe(mesh)})
    print(json.dumps({"nodes": nodes}))
else:
    print(json.dumps(describe(loaded)))
