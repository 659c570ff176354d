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
    cdef Py_ssize_t n_columns = X.shape[1]
    # The walk reads the arrays without bounds checks. FastHST builds them consistent, but a node or
    # column out of range (a model whose height changed after compiling, say) must raise, as NumPy's
    # `take` does on the Python path, instead of reading past an array.
    cdef Py_ssize_t size = min(feature_index.shape[0], threshold.shape[0], left_child.shape[0])
    out = np.empty((n_trees, n), dtype=np.intp)
    cdef cnp.intp_t[:, ::1] leaves = out
    cdef Py_ssize_t tree, row, node, column
    cdef Py_ssize_t bad_node = 0, bad_column = 0
    cdef int depth
    cdef int failure = 0  # 1: node out of range, 2: column out of range
    with nogil:
        for tree in range(n_trees):
            for row in range(n):
                node = tree * n_nodes
                for depth in range(height):
                    if node < 0 or node >= size:
                        failure, bad_node = 1, node
                        break
                    column = feature_index[node]
                    if column < 0 or column >= n_columns:
                        failure, bad_column = 2, column
                        break
                    if X[row, column] >= threshold[node]:
                        node = left_child[node] + 1
                    else:
                        node = left_child[node]
                if failure:
                    break
                leaves[tree, row] = node
            if failure:
                break
    if failure == 1:
        raise IndexError(f"node {bad_node} is out of range 0..{size - 1} of the node arrays")
    if failure == 2:
        raise IndexError(f"feature column {bad_column} is out of range 0..{n_columns - 1} of X")
    return out
