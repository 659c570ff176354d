# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Leaf lookup of the vectorised HalfSpaceTrees engine (stream/fasthst.py), one C loop per row.

`FastHST._find_leaves` walks every tree for every row with NumPy `take` calls, one round per
level; this walks each row down each tree directly. Both return the same leaf ids.
"""

import numpy as np

cimport numpy as cnp

cnp.import_array()


def find_leaves(
    const double[:, ::1] X,
    const cnp.intp_t[::1] feature_index,
    const double[::1] threshold,
    const cnp.intp_t[::1] left_child,
    Py_ssize_t n_trees,
    Py_ssize_t n_nodes,
    int height,
):
    """Return the global id of the leaf each row of `X` reaches in each tree, shape (n_trees, n).

    Nodes are numbered as in FastHST: tree * n_nodes + level-order index. A row goes left when
    its value is below the threshold, so an equal value goes right, as in River.
    """
    cdef Py_ssize_t n = X.shape[0]
    out = np.empty((n_trees, n), dtype=np.intp)
    cdef cnp.intp_t[:, ::1] leaves = out
    cdef Py_ssize_t tree, row, node
    cdef int depth
    with nogil:
        for tree in range(n_trees):
            for row in range(n):
                node = tree * n_nodes
                for depth in range(height):
                    if X[row, feature_index[node]] >= threshold[node]:
                        node = left_child[node] + 1
                    else:
                        node = left_child[node]
                leaves[tree, row] = node
    return out
