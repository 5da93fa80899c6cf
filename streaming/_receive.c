/* A connection's SRTP off its UDP socket: every datagram waiting read in one recvmmsg(2),
 * RTP unprotected by libsrtp and parsed, all in one call per turn of the event loop.
 *
 * streaming/aiortc_internals.py (read_rtp_in_batches) is the Python side and, where this module
 * was not compiled, the pure-Python way (RtpReader: one recvfrom, one copy, one libsrtp call
 * through cffi and a parse in Python per datagram).
 *
 * read(fd, session, packet_class, extensions_map, most) -> (items, rtp_count, rtp_bytes)
 *   fd: the socket (non-blocking); session: libsrtp's srtp_t of the connection's incoming
 *   SRTP, by address; packet_class: called as packet_class(marker, payload_type,
 *   sequence_number, timestamp, ssrc, csrc, payload, padding_size, raw_extensions) for each
 *   RTP packet libsrtp accepted, raw_extensions None or (profile, bytes, extensions_map);
 *   most: datagrams read at most.
 *   items: in the order they came, those packets and, for every other datagram (STUN, DTLS,
 *   RTCP), (bytes, address) as socket.recvfrom gives them, for the Python way. RTP that libsrtp
 *   refuses (a replay, a wrong tag) or that is not valid RTP is dropped, as aiortc drops it; it
 *   still counts in rtp_count and rtp_bytes (the transport's received packets and bytes, counted
 *   before unprotecting as aiortc counts them).
 *   Nothing waiting: ([], 0, 0). A socket error before any datagram: OSError.
 *
 * libsrtp is pylibsrtp's: its srtp_unprotect's address is given once (set_unprotect). The GIL
 * is held throughout (the socket never blocks), so the one set of receive buffers and headers is safe.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define MOST 64              /* datagrams in one call at most */
#define SLOT 65536           /* a whole UDP datagram always fits: nothing is cut short */
#define MAX_PACKET 1500      /* larger RTP is dropped, as pylibsrtp's unprotect refuses it */
#define RTP_HEADER 12

typedef int (*unprotect_fn)(void *session, void *srtp, int *length);

static unprotect_fn srtp_unprotect_fn = NULL;
static unsigned char (*slots)[SLOT] = NULL; /* MOST slots, allocated at the first read */
static struct mmsghdr messages[MOST];        /* each pointing at its slot and address, set up once */
static struct iovec vectors[MOST];
static struct sockaddr_storage addresses[MOST];

/* The receive buffers and recvmmsg's headers pointing at them, once; -1 without memory. */
static int set_up_slots(void) {
    if ((slots = PyMem_RawMalloc((size_t)MOST * SLOT)) == NULL)
        return -1;
    for (int i = 0; i < MOST; i++) {
        vectors[i].iov_base = slots[i];
        vectors[i].iov_len = SLOT;
        memset(&messages[i].msg_hdr, 0, sizeof messages[i].msg_hdr);
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &addresses[i];
    }
    return 0;
}

/* The address as socket.recvfrom gives it: (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6. */
static PyObject *address_of(const struct sockaddr_storage *addr) {
    char host[INET6_ADDRSTRLEN];
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(in->sin_port));
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return Py_BuildValue("(siII)", host, ntohs(in6->sin6_port), ntohl(in6->sin6_flowinfo), in6->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

static inline uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The RTP packet in data[:size] (unprotected) as packet_class makes it; NULL with no error set when it is
 * not valid RTP (checked as aiortc's RtpPacket.parse checks it). */
static PyObject *packet_of(const unsigned char *data, int size, PyObject *packet_class, PyObject *extensions_map) {
    if (size < RTP_HEADER || data[0] >> 6 != 2)
        return NULL;
    int count = data[0] & 0x0F;
    int pos = RTP_HEADER + 4 * count;
    if (size < pos)
        return NULL;
    int ext_profile = -1, ext_start = 0, ext_length = 0;
    if (data[0] & 0x10) {
        if (size < pos + 4)
            return NULL;
        ext_profile = (data[pos] << 8) | data[pos + 1];
        ext_length = 4 * ((data[pos + 2] << 8) | data[pos + 3]);
        ext_start = pos + 4;
        pos = ext_start + ext_length;
        if (size < pos)
            return NULL;
    }
    int padding = 0;
    if (data[0] & 0x20) {
        padding = data[size - 1];
        if (!padding || padding > size - pos)
            return NULL;
    }
    PyObject *args[9] = {NULL};
    PyObject *result = NULL;
    args[0] = PyLong_FromLong(data[1] >> 7);
    args[1] = PyLong_FromLong(data[1] & 0x7F);
    args[2] = PyLong_FromLong((data[2] << 8) | data[3]);
    args[3] = PyLong_FromUnsignedLong(be32(data + 4));
    args[4] = PyLong_FromUnsignedLong(be32(data + 8));
    args[5] = PyList_New(count);
    args[6] = PyBytes_FromStringAndSize((const char *)data + pos, size - padding - pos);
    args[7] = PyLong_FromLong(padding);
    if (ext_profile < 0) {
        args[8] = Py_NewRef(Py_None);
    } else {
        PyObject *raw = PyBytes_FromStringAndSize((const char *)data + ext_start, ext_length);
        args[8] = raw ? Py_BuildValue("(iNO)", ext_profile, raw, extensions_map) : NULL;
    }
    for (int i = 0; i < 9; i++)
        if (args[i] == NULL)
            goto done;
    for (int i = 0; i < count; i++) {
        PyObject *csrc = PyLong_FromUnsignedLong(be32(data + RTP_HEADER + 4 * i));
        if (csrc == NULL)
            goto done;
        PyList_SET_ITEM(args[5], i, csrc);
    }
    result = PyObject_Vectorcall(packet_class, args, 9, NULL);
done:
    for (int i = 0; i < 9; i++)
        Py_XDECREF(args[i]);
    if (result == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_MemoryError, "no memory for an RTP packet");
    return result;
}

static PyObject *receive_read(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "read(fd, session, packet_class, extensions_map, most)");
        return NULL;
    }
    if (srtp_unprotect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_unprotect() was not called");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[0]);
    void *session = PyLong_AsVoidPtr(args[1]);
    long most = PyLong_AsLong(args[4]);
    if (PyErr_Occurred())
        return NULL;
    if (session == NULL) {
        PyErr_SetString(PyExc_ValueError, "read needs libsrtp's session");
        return NULL;
    }
    PyObject *packet_class = args[2], *extensions_map = args[3];
    if (most < 1 || most > MOST)
        most = MOST;
    if (slots == NULL && set_up_slots() < 0)
        return PyErr_NoMemory();
    for (long i = 0; i < most; i++)
        messages[i].msg_hdr.msg_namelen = sizeof addresses[i]; /* recvmmsg wrote the last sender's size */
    int got = recvmmsg(fd, messages, (unsigned int)most, MSG_DONTWAIT, NULL);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return Py_BuildValue("([]ii)", 0, 0);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    long rtp_count = 0, rtp_bytes = 0;
    for (int i = 0; i < got; i++) {
        unsigned char *data = slots[i];
        int size = (int)messages[i].msg_len;
        PyObject *item = NULL;
        /* RTP: first byte 128-191 (version 2) and not RTCP (second byte 192-208, as aiortc's is_rtcp) */
        if (size >= 2 && data[0] > 127 && data[0] < 192 && !(data[1] >= 192 && data[1] <= 208)) {
            rtp_count++;
            rtp_bytes += size;
            int length = size;
            if (size > MAX_PACKET || srtp_unprotect_fn(session, data, &length) != 0)
                continue;
            item = packet_of(data, length, packet_class, extensions_map);
            if (item == NULL) {
                if (PyErr_Occurred())
                    goto failed;
                continue;
            }
        } else {
            PyObject *address = address_of(&addresses[i]);
            if (address == NULL)
                goto failed;
            item = Py_BuildValue("(y#N)", (const char *)data, (Py_ssize_t)size, address);
            if (item == NULL)
                goto failed;
        }
        if (PyList_Append(items, item) < 0) {
            Py_DECREF(item);
            goto failed;
        }
        Py_DECREF(item);
    }
    return Py_BuildValue("(Nll)", items, rtp_count, rtp_bytes);
failed:
    Py_DECREF(items);
    return NULL;
}

/* set_unprotect(address of libsrtp's srtp_unprotect) */
static PyObject *receive_set_unprotect(PyObject *module, PyObject *args) {
    unsigned long long address;
    if (!PyArg_ParseTuple(args, "K", &address))
        return NULL;
    if (!address) {
        PyErr_SetString(PyExc_ValueError, "set_unprotect needs srtp_unprotect's address");
        return NULL;
    }
    srtp_unprotect_fn = (unprotect_fn)(uintptr_t)address;
    Py_RETURN_NONE;
}

static PyMethodDef receive_methods[] = {
    {"read", (PyCFunction)(void (*)(void))receive_read, METH_FASTCALL,
     "read(fd, session, packet_class, extensions_map, most) -> (items, rtp_count, rtp_bytes)"},
    {"set_unprotect", receive_set_unprotect, METH_VARARGS, "libsrtp's srtp_unprotect, by address."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef receive_module = {
    PyModuleDef_HEAD_INIT, "_receive", "A connection's SRTP off its socket in one call per turn.", -1,
    receive_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__receive(void) { return PyModule_Create(&receive_module); }
