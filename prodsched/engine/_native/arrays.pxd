# Sorted arrays and capacity bytes in blocks: the searches of the compiled timeline (header
# only: every function is inline, compiled into the modules that use it).

from libcpp.vector cimport vector

ctypedef long long i64


# bisect_left / bisect_right over v[lo:hi], as the bisect module does them
cdef inline Py_ssize_t _bl(vector[i64]& v, i64 x, Py_ssize_t lo, Py_ssize_t hi):
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if v[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t _br(vector[i64]& v, i64 x, Py_ssize_t lo, Py_ssize_t hi):
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < v[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


# Gap capacities are bytes; ``top[b]`` bounds from above the largest of block ``b`` (BLOCK
# bytes), so a search skips whole blocks that cannot hold the operation instead of reading every
# gap. An insert or erase shifts the bytes after it by one: each later block then takes the byte
# that moved in into its bound (cheap, BLOCK times fewer steps than the shift itself), and a
# search that reads a whole block without a hit makes its bound exact again.
cdef enum:
    BLOCK_BITS = 6
    BLOCK = 1 << BLOCK_BITS


cdef inline void _put(vector[unsigned char]& buf, vector[unsigned char]& top,
                      Py_ssize_t k, unsigned char v):
    """Insert ``v`` at index ``k``."""
    cdef Py_ssize_t b, n
    buf.insert(buf.begin() + k, v)
    n = buf.size()
    b = k >> BLOCK_BITS
    if b < <Py_ssize_t>top.size():
        if v > top[b]:
            top[b] = v
        b += 1
    while b < <Py_ssize_t>top.size():
        if buf[b << BLOCK_BITS] > top[b]:
            top[b] = buf[b << BLOCK_BITS]
        b += 1
    if <Py_ssize_t>top.size() << BLOCK_BITS < n:  # a new last block, holding one byte
        top.push_back(buf[n - 1])


cdef inline void _overwrite(vector[unsigned char]& buf, vector[unsigned char]& top,
                            Py_ssize_t k, unsigned char v):
    """Set index ``k`` to ``v`` (the block bound stays an upper bound)."""
    buf[k] = v
    if v > top[k >> BLOCK_BITS]:
        top[k >> BLOCK_BITS] = v


cdef inline void _drop(vector[unsigned char]& buf, vector[unsigned char]& top,
                       Py_ssize_t k):
    """Remove index ``k``."""
    cdef Py_ssize_t b, i, n
    buf.erase(buf.begin() + k)
    n = buf.size()
    top.resize((n + BLOCK - 1) >> BLOCK_BITS)
    b = k >> BLOCK_BITS
    while b < <Py_ssize_t>top.size():
        i = ((b + 1) << BLOCK_BITS) - 1
        if i < n and buf[i] > top[b]:
            top[b] = buf[i]
        b += 1


cdef inline unsigned char _block_max(const unsigned char* p):
    """The largest of the BLOCK bytes at ``p`` (a fixed-length loop the compiler vectorises)."""
    cdef unsigned char m = 0
    cdef int j
    for j in range(BLOCK):
        if p[j] > m:
            m = p[j]
    return m


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Index of the first of the n bytes at p that is >= d, -1 when none. Eight bytes at a
       time where it can: with d <= 128, adding 128 - d to a byte sets its high bit (or the
       byte has it already) exactly when the byte is >= d; a carry only runs into later bytes,
       after a byte that matched, so the lowest flagged byte is the first match. */
    static inline Py_ssize_t prodsched_first_ge(const unsigned char *p, Py_ssize_t n,
                                                unsigned char d) {
        Py_ssize_t i = 0;
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
        if (d <= 128) {
            const uint64_t high = 0x8080808080808080ULL;
            const uint64_t add = 0x0101010101010101ULL * (uint64_t)(128 - d);
            for (; i + 8 <= n; i += 8) {
                uint64_t w, f;
                memcpy(&w, p + i, 8);
                f = ((w + add) | w) & high;
                if (f)
                    return i + (__builtin_ctzll(f) >> 3);
            }
        }
    #endif
        for (; i < n; i++)
            if (p[i] >= d)
                return i;
        return -1;
    }
    """
    Py_ssize_t _first_ge "prodsched_first_ge" (const unsigned char* p, Py_ssize_t n,
                                                 unsigned char d) noexcept nogil


cdef inline Py_ssize_t _scan(vector[unsigned char]& buf, vector[unsigned char]& top,
                             Py_ssize_t k, Py_ssize_t stop, unsigned char d) noexcept:
    """First index in [k, stop) whose byte is >= d, -1 when none."""
    cdef Py_ssize_t i, b, j, end, n = buf.size()
    cdef unsigned char m
    cdef bint whole
    if stop > n:
        stop = n
    i = k
    while i < stop:
        b = i >> BLOCK_BITS
        if top[b] < d:  # on to the next block whose bound admits d
            j = _first_ge(top.data() + b + 1, ((stop - 1) >> BLOCK_BITS) - b, d)
            if j < 0:
                return -1
            i = (b + 1 + j) << BLOCK_BITS
            continue
        end = (b + 1) << BLOCK_BITS
        whole = i == b << BLOCK_BITS and end <= n
        if whole:  # read the whole block at once: its bound becomes exact
            m = _block_max(&buf[i])
            top[b] = m
            if m < d:
                i = end
                continue
        if end > n:
            end = n
        j = _first_ge(buf.data() + i, end - i, d)  # a whole block gets here only when it holds a hit
        if j >= 0:
            return i + j if i + j < stop else -1
        i = end
    return -1
