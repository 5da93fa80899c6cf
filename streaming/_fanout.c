/* Forwarded RTP packets to every viewer of a track: the forwarder's hot loop in C.
 *
 * streaming/fanout.py is the Python side and the pure-Python fallback (used when this module
 * was not compiled); streaming/forwarder.py's ViewerOutput.send does the same for one viewer.
 *
 * A Target is one viewer's end of a track: its libsrtp session, payload type, SSRC, and the
 * UDP socket and address of its ICE pair in use. send(targets, rtp, marker) copies the packet
 * for each target into a buffer, writes the target's payload type and SSRC, has libsrtp
 * protect it in place and hands it to the socket with sendto(2). send_burst(targets, packets)
 * does the same for several packets (a video frame's, which the forwarder sends together),
 * and hands each viewer's protected packets to the kernel in as few calls as it can: runs of
 * equal-sized datagrams (an encoder's packetizer cuts a frame into equal parts) go out in one
 * sendmsg(2) with UDP generic
 * segmentation offload (UDP_SEGMENT), which the kernel or the network card splits into the
 * same datagrams; where the socket or kernel cannot (EIO: no checksum offload; EINVAL,
 * ENOPROTOOPT: too old), that target sends datagram by datagram from then on.
 *
 * Anything else goes back to Python: a target whose ICE pair changed, whose socket asyncio
 * still holds data for, or that has no socket is "not sent" (the caller sends it its Python
 * way), and a datagram the socket refused (full buffer, an error) is handed back protected
 * for asyncio's transport.
 *
 * libsrtp is pylibsrtp's: its srtp_protect's address is given once (set_protect).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h: the size of each datagram cut from one send */
#endif

#define BUFFER_SIZE 2048 /* room for the largest packet sent here plus libsrtp's trailer */
#define MAX_IN 1400      /* larger packets go the Python way (set from Python: set_protect) */
#define BURST_BUFFER 65536 /* one viewer's protected packets of a burst, as many as fit */
#define GSO_MAX_BYTES 61440 /* a UDP datagram before segmentation stays under 64 KiB */
#define GSO_MAX_SEGMENTS 64 /* the kernel's UDP_MAX_SEGMENTS (64 before Linux 6.8) */

#if PY_VERSION_HEX >= 0x030D0000
#define LOOKUP_ATTR PyObject_GetOptionalAttr
#else
#define LOOKUP_ATTR _PyObject_LookupAttr
#endif

typedef int (*protect_fn)(void *session, void *rtp, int *length);

static protect_fn srtp_protect_fn = NULL;
static Py_ssize_t max_in = MAX_IN;
static PyObject *component_one = NULL; /* aioice's key of the RTP component in its nominated pairs */
static PyObject *target_name = NULL;   /* "target": a viewer output's attribute holding its Target */

typedef struct {
    PyObject_HEAD
    void *session;        /* srtp_t */
    PyObject *keepalive;  /* what owns the session */
    PyObject *nominated;  /* aioice's live dict: component -> nominated pair */
    PyObject *pair;       /* the pair this route was set for (None: no route) */
    PyObject *fileno;     /* the socket's bound fileno(): -1 once it is closed */
    PyObject *backlog;    /* asyncio's send buffer of the socket */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    unsigned char byte1[2]; /* second header byte for marker 0 and 1 */
    unsigned char ssrc[4];
    int gso_off;          /* this socket or kernel refused UDP_SEGMENT once: datagram by datagram */
    unsigned long long packets;
    unsigned long long octets;
    unsigned long long calls; /* system calls that sent its datagrams */
} Target;

static int Target_traverse(Target *self, visitproc visit, void *arg) {
    Py_VISIT(self->keepalive);
    Py_VISIT(self->nominated);
    Py_VISIT(self->pair);
    Py_VISIT(self->fileno);
    Py_VISIT(self->backlog);
    return 0;
}

static int Target_clear(Target *self) {
    Py_CLEAR(self->keepalive);
    Py_CLEAR(self->nominated);
    Py_CLEAR(self->pair);
    Py_CLEAR(self->fileno);
    Py_CLEAR(self->backlog);
    return 0;
}

static void Target_dealloc(Target *self) {
    PyObject_GC_UnTrack(self);
    Target_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Target(session address, owner of the session, nominated pairs dict, payload type, ssrc) */
static int Target_init(Target *self, PyObject *args, PyObject *kwds) {
    unsigned long long session;
    PyObject *keepalive, *nominated;
    int payload_type;
    unsigned long ssrc;
    if (!PyArg_ParseTuple(args, "KOO!ik", &session, &keepalive, &PyDict_Type, &nominated, &payload_type, &ssrc))
        return -1;
    if (session == 0 || payload_type < 0 || payload_type > 127) {
        PyErr_SetString(PyExc_ValueError, "Target needs a libsrtp session and a payload type 0-127");
        return -1;
    }
    self->session = (void *)(uintptr_t)session;
    Py_INCREF(keepalive);
    Py_XSETREF(self->keepalive, keepalive);
    Py_INCREF(nominated);
    Py_XSETREF(self->nominated, nominated);
    Py_INCREF(Py_None);
    Py_XSETREF(self->pair, Py_None);
    Py_CLEAR(self->fileno);
    Py_CLEAR(self->backlog);
    self->addr_len = 0;
    self->byte1[0] = (unsigned char)payload_type;
    self->byte1[1] = (unsigned char)(0x80 | payload_type);
    self->ssrc[0] = (unsigned char)(ssrc >> 24);
    self->ssrc[1] = (unsigned char)(ssrc >> 16);
    self->ssrc[2] = (unsigned char)(ssrc >> 8);
    self->ssrc[3] = (unsigned char)ssrc;
    self->packets = self->octets = self->calls = 0;
    self->gso_off = 0;
    return 0;
}

/* route(pair, socket's fileno, asyncio's buffer, family, host, port): where to send from now on;
 * route(pair) with nothing else: no direct route (the Python way sends, or drops). */
static PyObject *Target_route(Target *self, PyObject *args) {
    PyObject *pair, *fileno = Py_None, *backlog = Py_None;
    int family = 0, port = 0;
    const char *host = NULL;
    if (!PyArg_ParseTuple(args, "O|OOizi", &pair, &fileno, &backlog, &family, &host, &port))
        return NULL;
    Py_INCREF(pair);
    Py_XSETREF(self->pair, pair);
    Py_CLEAR(self->fileno);
    Py_CLEAR(self->backlog);
    self->addr_len = 0;
    if (fileno == Py_None || host == NULL)
        Py_RETURN_FALSE;
    memset(&self->addr, 0, sizeof(self->addr));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&self->addr;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            Py_RETURN_FALSE;
        in->sin_family = AF_INET;
        in->sin_port = htons((unsigned short)port);
        self->addr_len = sizeof(*in);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&self->addr;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            Py_RETURN_FALSE; /* a scoped address and the like: the Python way */
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        self->addr_len = sizeof(*in6);
    } else {
        Py_RETURN_FALSE;
    }
    Py_INCREF(fileno);
    self->fileno = fileno;
    Py_INCREF(backlog);
    self->backlog = backlog;
    Py_RETURN_TRUE;
}

static PyMethodDef Target_methods[] = {
    {"route", (PyCFunction)Target_route, METH_VARARGS, "Where this viewer's packets go (see the module's source)."},
    {NULL},
};

static PyMemberDef Target_members[] = {
    {"packets", T_ULONGLONG, offsetof(Target, packets), READONLY, "packets sent here"},
    {"octets", T_ULONGLONG, offsetof(Target, octets), READONLY, "payload octets sent here"},
    {"calls", T_ULONGLONG, offsetof(Target, calls), READONLY, "system calls that sent them"},
    {"unsegmented", T_INT, offsetof(Target, gso_off), READONLY, "1 once its route refused UDP segmentation"},
    {NULL},
};

static PyTypeObject TargetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streaming._fanout.Target",
    .tp_basicsize = sizeof(Target),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One viewer's end of a track, for send().",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Target_init,
    .tp_dealloc = (destructor)Target_dealloc,
    .tp_traverse = (traverseproc)Target_traverse,
    .tp_clear = (inquiry)Target_clear,
    .tp_methods = Target_methods,
    .tp_members = Target_members,
};

/* Append (index, data) to *failed (made on first use). */
static int note(PyObject **failed, Py_ssize_t index, PyObject *data) {
    if (*failed == NULL && (*failed = PyList_New(0)) == NULL)
        return -1;
    PyObject *item = Py_BuildValue("(nO)", index, data);
    if (item == NULL)
        return -1;
    int rc = PyList_Append(*failed, item);
    Py_DECREF(item);
    return rc;
}


enum { SENT = 0, PYTHON_WAY = 1, REFUSED = 2, FAILED = -1 };

/* The socket to send to t on (*fd), or PYTHON_WAY (its ICE pair changed, no direct route, asyncio
 * holds data for the socket, the socket is closed), or FAILED with a Python error set. */
static int route_of(Target *t, int *fd) {
    PyObject *now = PyDict_GetItemWithError(t->nominated, component_one);
    if (now == NULL && PyErr_Occurred())
        return FAILED;
    if ((now == NULL ? Py_None : now) != t->pair || t->fileno == NULL)
        return PYTHON_WAY;
    Py_ssize_t queued = PyObject_Size(t->backlog); /* asyncio holds data for the socket: keep the order */
    if (queued < 0)
        return FAILED;
    if (queued > 0)
        return PYTHON_WAY;
    PyObject *number = PyObject_CallNoArgs(t->fileno); /* -1 once the socket is closed */
    if (number == NULL)
        return FAILED;
    *fd = (int)PyLong_AsLong(number);
    Py_DECREF(number);
    if (*fd == -1 && PyErr_Occurred())
        return FAILED;
    return *fd < 0 ? PYTHON_WAY : SENT;
}

/* Copy one packet into buffer, write t's payload type and SSRC, protect it in place: its length, or -1. */
static int protect_into(Target *t, const char *rtp, Py_ssize_t size, int marker, unsigned char *buffer) {
    memcpy(buffer, rtp, (size_t)size);
    buffer[1] = t->byte1[marker];
    memcpy(buffer + 8, t->ssrc, 4);
    int length = (int)size;
    if (srtp_protect_fn(t->session, buffer, &length) != 0)
        return -1;
    t->packets += 1;
    t->octets += (unsigned long long)(size - 12);
    return length;
}

/* Protect and send one packet to one target; a REFUSED datagram is left in buffer[:*length]. */
static int send_one(Target *t, const char *rtp, Py_ssize_t size, int marker, unsigned char *buffer, int *length) {
    int fd = -1;
    int outcome = route_of(t, &fd);
    if (outcome != SENT)
        return outcome;
    *length = protect_into(t, rtp, size, marker, buffer);
    if (*length < 0)
        return PYTHON_WAY; /* where libsrtp's error is raised */
    if (sendto(fd, buffer, (size_t)*length, 0, (struct sockaddr *)&t->addr, t->addr_len) < 0)
        return REFUSED;
    t->calls += 1;
    return SENT;
}

/* send(outputs, rtp, marker) -> None, or [(index, None: send it the Python way | protected datagram for
 * asyncio's transport)]; each output's Target is its attribute "target" (anything else: the Python way) */
static PyObject *fanout_send(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "send(outputs: list, rtp: bytes, marker: int)");
        return NULL;
    }
    if (srtp_protect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_protect() was not called");
        return NULL;
    }
    PyObject *targets = args[0];
    const char *rtp = PyBytes_AS_STRING(args[1]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[1]);
    int marker = PyObject_IsTrue(args[2]);
    if (marker < 0)
        return NULL;
    PyObject *failed = NULL;
    unsigned char buffer[BUFFER_SIZE];
    Py_ssize_t count = PyList_GET_SIZE(targets);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *target = NULL;
        if (LOOKUP_ATTR(PyList_GET_ITEM(targets, i), target_name, &target) < 0)
            goto error;
        int length = 0;
        int outcome = PYTHON_WAY;
        if (size >= 12 && size <= max_in && target != NULL && Py_TYPE(target) == &TargetType)
            outcome = send_one((Target *)target, rtp, size, marker, buffer, &length);
        Py_XDECREF(target);
        if (outcome == FAILED)
            goto error;
        if (outcome == PYTHON_WAY && note(&failed, i, Py_None) < 0)
            goto error;
        if (outcome == REFUSED) {
            PyObject *data = PyBytes_FromStringAndSize((const char *)buffer, length);
            if (data == NULL)
                goto error;
            int rc = note(&failed, i, data);
            Py_DECREF(data);
            if (rc < 0)
                goto error;
        }
    }
    if (failed == NULL)
        Py_RETURN_NONE;
    return failed;
error:
    Py_XDECREF(failed);
    return NULL;
}

/* Append (index, first, data) to *unsent (made on first use). */
static int note_burst(PyObject **unsent, Py_ssize_t index, Py_ssize_t first, const unsigned char *data, int length) {
    if (*unsent == NULL && (*unsent = PyList_New(0)) == NULL)
        return -1;
    PyObject *item = data == NULL ? Py_BuildValue("(nnO)", index, first, Py_None)
                                  : Py_BuildValue("(nny#)", index, first, (const char *)data, (Py_ssize_t)length);
    if (item == NULL)
        return -1;
    int rc = PyList_Append(*unsent, item);
    Py_DECREF(item);
    return rc;
}

/* Send count datagrams of segment bytes each (the last may be shorter), bytes in all, from data:
 * in one call with UDP_SEGMENT where it can, else one by one. How many were sent. */
static int send_group(Target *t, int fd, unsigned char *data, int bytes, int segment, int count) {
    if (count > 1 && !t->gso_off) {
        union {
            char space[CMSG_SPACE(sizeof(uint16_t))];
            struct cmsghdr align;
        } control;
        memset(&control, 0, sizeof(control));
        struct iovec iov = {.iov_base = data, .iov_len = (size_t)bytes};
        struct msghdr msg = {
            .msg_name = &t->addr,
            .msg_namelen = t->addr_len,
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.space,
            .msg_controllen = sizeof(control.space),
        };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_UDP;
        cmsg->cmsg_type = UDP_SEGMENT;
        cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = (uint16_t)segment;
        memcpy(CMSG_DATA(cmsg), &size, sizeof(size));
        if (sendmsg(fd, &msg, 0) >= 0) {
            t->calls += 1;
            return count;
        }
        if (errno != EIO && errno != EINVAL && errno != ENOPROTOOPT && errno != EOPNOTSUPP)
            return 0; /* a full buffer or an error: asyncio's handling, datagram by datagram */
        t->gso_off = 1; /* no segmentation offload on this route: one by one from now on */
    }
    for (int k = 0; k < count; k++) {
        int offset = k * segment;
        int length = k == count - 1 ? bytes - offset : segment;
        if (sendto(fd, data + offset, (size_t)length, 0, (struct sockaddr *)&t->addr, t->addr_len) < 0)
            return k;
        t->calls += 1;
    }
    return count;
}

static unsigned char burst_buffer[BURST_BUFFER + BUFFER_SIZE];

/* Send the group of count datagrams in buffer[:bytes] (packets first, first + 1, ...); those the socket
 * refuses are noted in *unsent. 0: all sent; 1: refused; -1: a Python error. */
static int flush_group(Target *t, int fd, const unsigned char *buffer, int bytes, int segment, int count,
                       Py_ssize_t index, Py_ssize_t first, PyObject **unsent) {
    int sent = send_group(t, fd, (unsigned char *)buffer, bytes, segment, count);
    for (int k = sent; k < count; k++) {
        int at = k * segment;
        if (note_burst(unsent, index, first + k, buffer + at, k == count - 1 ? bytes - at : segment) < 0)
            return -1;
    }
    return sent < count;
}

/* One target's share of send_burst: the packets protected one after another into burst_buffer and
 * sent in runs of equal size (a group: buffer[:offset]); what it cannot send itself is noted in *unsent.
 * 0, or -1 on a Python error. */
static int burst_to(Target *t, Py_ssize_t index, PyObject *packets, PyObject **unsent) {
    int fd = -1;
    int outcome = route_of(t, &fd);
    if (outcome == FAILED)
        return -1;
    if (outcome == PYTHON_WAY)
        return note_burst(unsent, index, 0, NULL, 0);
    Py_ssize_t count = PyList_GET_SIZE(packets);
    unsigned char *buffer = burst_buffer;
    int offset = 0, segment = 0, in_group = 0, closed = 0, refused = 0;
    Py_ssize_t first = 0; /* the packet that starts the group */
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *packet = PyList_GET_ITEM(packets, j);
        PyObject *rtp = PyTuple_GET_ITEM(packet, 2);
        int marker = PyLong_AsLong(PyTuple_GET_ITEM(packet, 1)) != 0;
        if (offset + BUFFER_SIZE > BURST_BUFFER) { /* no room for another: send the group first */
            if ((refused = flush_group(t, fd, buffer, offset, segment, in_group, index, first, unsent)) < 0)
                return -1;
            offset = in_group = 0;
        }
        int length = protect_into(t, PyBytes_AS_STRING(rtp), PyBytes_GET_SIZE(rtp), marker, buffer + offset);
        if (length < 0) { /* libsrtp's error: the Python way from this packet on, where it is raised */
            if (!refused && in_group && flush_group(t, fd, buffer, offset, segment, in_group, index, first, unsent) < 0)
                return -1;
            return note_burst(unsent, index, j, NULL, 0);
        }
        if (refused) { /* the socket refused one: the rest go through asyncio's transport, in order */
            if (note_burst(unsent, index, j, buffer + offset, length) < 0)
                return -1;
            continue;
        }
        int joins = in_group > 0 && !closed && length <= segment && offset + length <= GSO_MAX_BYTES &&
                    in_group < GSO_MAX_SEGMENTS;
        if (!joins && in_group > 0) {
            if ((refused = flush_group(t, fd, buffer, offset, segment, in_group, index, first, unsent)) < 0)
                return -1;
            if (refused) {
                if (note_burst(unsent, index, j, buffer + offset, length) < 0)
                    return -1;
                continue;
            }
            memmove(buffer, buffer + offset, (size_t)length);
            offset = in_group = 0;
        }
        if (in_group == 0) {
            segment = length;
            closed = 0;
            first = j;
        } else if (length < segment) {
            closed = 1; /* a shorter datagram ends a run */
        }
        in_group += 1;
        offset += length;
    }
    if (in_group > 0 && !refused && flush_group(t, fd, buffer, offset, segment, in_group, index, first, unsent) < 0)
        return -1;
    return 0;
}

/* send_burst(outputs, packets) -> None, False, or [(index, first, None | datagram)]: each packet is the
 * forwarder's (sequence number, marker, rtp bytes). False: a packet this loop does not take (its size),
 * send them one by one. (index, first, None): send packets[first:] to outputs[index] the Python way;
 * (index, first, datagram): packets[first] for outputs[index], protected, refused by the socket. */
static PyObject *fanout_send_burst(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "send_burst(outputs: list, packets: list)");
        return NULL;
    }
    if (srtp_protect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_protect() was not called");
        return NULL;
    }
    PyObject *targets = args[0], *packets = args[1];
    Py_ssize_t count = PyList_GET_SIZE(packets);
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *packet = PyList_GET_ITEM(packets, j);
        if (!PyTuple_Check(packet) || PyTuple_GET_SIZE(packet) != 3 || !PyBytes_Check(PyTuple_GET_ITEM(packet, 2)) ||
            !PyLong_Check(PyTuple_GET_ITEM(packet, 1))) {
            PyErr_SetString(PyExc_TypeError, "send_burst's packets are (sequence number, marker, rtp bytes)");
            return NULL;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(PyTuple_GET_ITEM(packet, 2));
        if (size < 12 || size > max_in)
            Py_RETURN_FALSE;
    }
    PyObject *unsent = NULL;
    Py_ssize_t viewers = PyList_GET_SIZE(targets);
    for (Py_ssize_t i = 0; i < viewers; i++) {
        PyObject *target = NULL;
        if (LOOKUP_ATTR(PyList_GET_ITEM(targets, i), target_name, &target) < 0)
            goto error;
        int rc = (target != NULL && Py_TYPE(target) == &TargetType) ? burst_to((Target *)target, i, packets, &unsent)
                                                                    : note_burst(&unsent, i, 0, NULL, 0);
        Py_XDECREF(target);
        if (rc < 0)
            goto error;
    }
    if (unsent == NULL)
        Py_RETURN_NONE;
    return unsent;
error:
    Py_XDECREF(unsent);
    return NULL;
}

/* set_protect(address of libsrtp's srtp_protect, largest packet to protect here) */
static PyObject *fanout_set_protect(PyObject *module, PyObject *args) {
    unsigned long long address;
    Py_ssize_t largest;
    if (!PyArg_ParseTuple(args, "Kn", &address, &largest))
        return NULL;
    if (address == 0 || largest < 12 || largest > BUFFER_SIZE - 256) {
        PyErr_SetString(PyExc_ValueError, "set_protect needs srtp_protect's address and a size that fits the buffer");
        return NULL;
    }
    srtp_protect_fn = (protect_fn)(uintptr_t)address;
    max_in = largest;
    Py_RETURN_NONE;
}

static PyMethodDef fanout_methods[] = {
    {"send", (PyCFunction)(void (*)(void))fanout_send, METH_FASTCALL, "Protect and send one RTP packet to every target."},
    {"send_burst", (PyCFunction)(void (*)(void))fanout_send_burst, METH_FASTCALL,
     "Protect and send packets that came in together to every target, equal sizes in one call."},
    {"set_protect", fanout_set_protect, METH_VARARGS, "libsrtp's srtp_protect, by address."},
    {NULL},
};

static struct PyModuleDef fanout_module = {
    PyModuleDef_HEAD_INIT, "streaming._fanout", "One forwarded RTP packet to every viewer of a track in one call.", -1,
    fanout_methods,
};

PyMODINIT_FUNC PyInit__fanout(void) {
    if (PyType_Ready(&TargetType) < 0)
        return NULL;
    component_one = PyLong_FromLong(1);
    target_name = PyUnicode_InternFromString("target");
    if (component_one == NULL || target_name == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&fanout_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&TargetType);
    if (PyModule_AddObject(module, "Target", (PyObject *)&TargetType) < 0) {
        Py_DECREF(&TargetType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
