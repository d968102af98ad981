"""Bounds-checked XTC coordinate decoder (Numba).

A transcription of the decompression in GROMACS' xdrfile (``xdr3dfcoord``,
read side), the same code MDTraj 1.11 ships, with every read and write
checked. MDTraj's copy trusts the run lengths in the bit stream: a damaged
frame makes it write past its output buffer (heap corruption, then an abort
of the interpreter). Here a damaged frame returns an error code instead, and
an intact frame decodes to the same float32 values bit for bit.

Units: the decoded coordinates are in the file's unit (nm for XTC).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# xdrfile's table of bit-size limits; a frame's `smallidx` indexes it
MAGICINTS = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64,
     80, 101, 128, 161, 203, 256, 322, 406, 512, 645, 812, 1024, 1290,
     1625, 2048, 2580, 3250, 4096, 5060, 6501, 8192, 10321, 13003,
     16384, 20642, 26007, 32768, 41285, 52015, 65536, 82570, 104031,
     131072, 165140, 208063, 262144, 330280, 416127, 524287, 660561,
     832255, 1048576, 1321122, 1664510, 2097152, 2642245, 3329021,
     4194304, 5284491, 6658042, 8388607, 10568983, 13316085, 16777216],
    dtype=np.int64,
)
FIRSTIDX = 9

#: decode status codes
OK = 0
ERR_BOUNDS = -1  # the bit stream ends before the atoms do
ERR_SMALLIDX = -2  # size index outside xdrfile's table
ERR_OVERRUN = -3  # a run of atoms goes past the atom count (MDTraj's buffer overrun)
ERR_SIZES = -4  # coordinate range invalid
ERR_LENGTH = -5  # the atoms used fewer bytes than the frame's byte count says

MESSAGES = {
    ERR_BOUNDS: "compressed coordinates end early",
    ERR_SMALLIDX: "size index outside the XTC table",
    ERR_OVERRUN: "a run of atoms goes past the atom count",
    ERR_SIZES: "invalid coordinate range",
    ERR_LENGTH: "compressed coordinates do not fill their byte count",
}


@njit(cache=True)
def _sizeofint(size):
    num = 1
    bits = 0
    while size >= num and bits < 32:
        bits += 1
        num <<= 1
    return bits


@njit(cache=True)
def _sizeofints(sizes):
    """Bits needed for the product of the three sizes (multi-byte arithmetic as in xdrfile)."""
    digits = np.zeros(32, dtype=np.int64)
    digits[0] = 1
    n_digits = 1
    for i in range(3):
        tmp = 0
        count = 0
        while count < n_digits:
            tmp = digits[count] * sizes[i] + tmp
            digits[count] = tmp & 0xFF
            tmp >>= 8
            count += 1
        while tmp != 0:
            digits[count] = tmp & 0xFF
            count += 1
            tmp >>= 8
        n_digits = count
    num = 1
    n_digits -= 1
    bits = 0
    while digits[n_digits] >= num:
        bits += 1
        num *= 2
    return bits + n_digits * 8


@njit(cache=True, inline="always")
def _receivebits(data, end, cnt, lastbits, lastbyte, nbits):
    """Next ``nbits`` bits of the stream.

    The reader state (byte position ``cnt``, ``lastbits``, ``lastbyte``) is
    passed and returned by value so it stays in registers; ``cnt`` is returned
    as -1 when the stream ends early.
    """
    num = np.int64(0)
    n = nbits
    while n >= 8:
        if cnt >= end:
            return 0, -1, lastbits, lastbyte
        lastbyte = ((lastbyte << 8) | np.int64(data[cnt])) & 0xFFFFFFFF
        cnt += 1
        num |= ((lastbyte >> lastbits) << (n - 8)) & 0xFFFFFFFF
        n -= 8
    if n > 0:
        if lastbits < n:
            if cnt >= end:
                return 0, -1, lastbits, lastbyte
            lastbits += 8
            lastbyte = ((lastbyte << 8) | np.int64(data[cnt])) & 0xFFFFFFFF
            cnt += 1
        lastbits -= n
        num |= (lastbyte >> lastbits) & ((np.int64(1) << n) - 1)
    return num & ((np.int64(1) << nbits) - 1), cnt, lastbits, lastbyte


@njit(cache=True)
def _receiveints(data, end, cnt, lastbits, lastbyte, num_of_bits, sizes, out, scratch):
    """Three integers packed into ``num_of_bits`` bits with ranges ``sizes``; returns the reader state."""
    scratch[1] = 0
    scratch[2] = 0
    scratch[3] = 0
    n = 0
    while num_of_bits > 8:
        scratch[n], cnt, lastbits, lastbyte = _receivebits(data, end, cnt, lastbits, lastbyte, 8)
        n += 1
        num_of_bits -= 8
    if num_of_bits > 0:
        scratch[n], cnt, lastbits, lastbyte = _receivebits(data, end, cnt, lastbits, lastbyte, num_of_bits)
        n += 1
    if cnt < 0:
        return cnt, lastbits, lastbyte
    for i in range(2, 0, -1):
        num = np.int64(0)
        for j in range(n - 1, -1, -1):
            num = (num << 8) | scratch[j]
            p = num // sizes[i]
            scratch[j] = p
            num = num - p * sizes[i]
        out[i] = num
    out[0] = scratch[0] | (scratch[1] << 8) | (scratch[2] << 16) | (scratch[3] << 24)
    return cnt, lastbits, lastbyte


@njit(cache=True)
def decode_xtc_coordinates(data, start, n_bytes, n_atoms, precision, minint, maxint, smallidx, out):
    """Decode one frame's compressed coordinates into ``out`` (float32 [n_atoms, 3]).

    data : uint8 buffer holding the bit stream at ``data[start:start + n_bytes]``.
    precision, minint[3], maxint[3], smallidx : from the frame's compression header.
    Returns ``OK`` (0) or a negative error code (see ``MESSAGES``); never reads
    or writes outside the buffers.
    """
    end = start + n_bytes
    if end > data.shape[0] or n_bytes < 0:
        return ERR_BOUNDS
    sizeint = np.empty(3, dtype=np.int64)
    bitsizeint = np.zeros(3, dtype=np.int64)
    for k in range(3):
        if maxint[k] < minint[k]:
            return ERR_SIZES
        sizeint[k] = np.int64(maxint[k]) - np.int64(minint[k]) + 1
    if sizeint[0] > 0xFFFFFF or sizeint[1] > 0xFFFFFF or sizeint[2] > 0xFFFFFF:
        for k in range(3):
            bitsizeint[k] = _sizeofint(sizeint[k])
        bitsize = 0
    else:
        bitsize = _sizeofints(sizeint)
    n_magic = MAGICINTS.shape[0]
    if smallidx < FIRSTIDX or smallidx >= n_magic:
        return ERR_SMALLIDX
    smaller = MAGICINTS[max(FIRSTIDX, smallidx - 1)] // 2
    smallnum = MAGICINTS[smallidx] // 2
    sizesmall = np.empty(3, dtype=np.int64)
    sizesmall[:] = MAGICINTS[smallidx]
    cnt = np.int64(start)  # reader state: next byte, bits left in lastbyte, last bytes read
    lastbits = np.int64(0)
    lastbyte = np.int64(0)
    scratch = np.zeros(32, dtype=np.int64)
    thiscoord = np.zeros(3, dtype=np.int64)
    prevcoord = np.zeros(3, dtype=np.int64)
    inv_precision = np.float32(1.0) / np.float32(precision)
    i = 0
    atom = 0
    run = 0
    while i < n_atoms:
        if bitsize == 0:
            for k in range(3):
                thiscoord[k], cnt, lastbits, lastbyte = _receivebits(data, end, cnt, lastbits, lastbyte,
                                                                     bitsizeint[k])
        else:
            cnt, lastbits, lastbyte = _receiveints(data, end, cnt, lastbits, lastbyte, bitsize, sizeint,
                                                   thiscoord, scratch)
        if cnt < 0:
            return ERR_BOUNDS
        i += 1
        for k in range(3):
            thiscoord[k] += minint[k]
            prevcoord[k] = thiscoord[k]
        flag, cnt, lastbits, lastbyte = _receivebits(data, end, cnt, lastbits, lastbyte, 1)
        is_smaller = 0
        if flag == 1 and cnt >= 0:
            run, cnt, lastbits, lastbyte = _receivebits(data, end, cnt, lastbits, lastbyte, 5)
            is_smaller = run % 3
            run -= is_smaller
            is_smaller -= 1
        if cnt < 0:
            return ERR_BOUNDS
        if run > 0:
            if i + run // 3 > n_atoms:
                return ERR_OVERRUN
            for kk in range(0, run, 3):
                cnt, lastbits, lastbyte = _receiveints(data, end, cnt, lastbits, lastbyte, smallidx, sizesmall,
                                                       thiscoord, scratch)
                if cnt < 0:
                    return ERR_BOUNDS
                i += 1
                for k in range(3):
                    thiscoord[k] += prevcoord[k] - smallnum
                if kk == 0:
                    # the writer swapped the first two atoms of a run (water compresses better)
                    for k in range(3):
                        tmp = thiscoord[k]
                        thiscoord[k] = prevcoord[k]
                        prevcoord[k] = tmp
                    for k in range(3):
                        out[atom, k] = np.float32(prevcoord[k]) * inv_precision
                    atom += 1
                else:
                    for k in range(3):
                        prevcoord[k] = thiscoord[k]
                for k in range(3):
                    out[atom, k] = np.float32(thiscoord[k]) * inv_precision
                atom += 1
        else:
            for k in range(3):
                out[atom, k] = np.float32(thiscoord[k]) * inv_precision
            atom += 1
        smallidx += is_smaller
        if smallidx < FIRSTIDX or smallidx >= n_magic:
            return ERR_SMALLIDX
        if is_smaller < 0:
            smallnum = smaller
            smaller = MAGICINTS[smallidx - 1] // 2 if smallidx > FIRSTIDX else 0
        elif is_smaller > 0:
            smaller = smallnum
            smallnum = MAGICINTS[smallidx] // 2
        sizesmall[:] = MAGICINTS[smallidx]
    if atom != n_atoms:
        return ERR_OVERRUN
    # the writer rounds the bit count up to whole bytes, and the reader consumes exactly those
    return OK if cnt == end else ERR_LENGTH
