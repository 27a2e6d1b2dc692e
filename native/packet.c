/*
 * bmlb packet addon: the smallest piece of native code the speaker needs.
 *
 * Node has no AF_PACKET sockets, and the speaker must answer ARP who-has and IPv6 Neighbor
 * Solicitations for addresses that are NOT configured on the interface (kube-proxy IPVS with
 * strictARP), so it has to see and send whole Ethernet frames. This addon exposes:
 *
 *   interfaceInfo(name)                      -> { index, mac: Buffer(6), flags }
 *   open(name, ethertype, filter|null, onFrame(frame: Buffer)) -> handle
 *        an AF_PACKET/SOCK_RAW socket bound to the interface for one ethertype, with an optional
 *        classic BPF program (a Buffer of struct sock_filter, built by the TypeScript side),
 *        read asynchronously on the libuv loop (uv_poll + non-blocking recvfrom); frames the
 *        host itself sent (PACKET_OUTGOING) are not delivered.
 *   send(handle, frame: Buffer)              -> bytes sent (throws on error)
 *   addMembership(handle, mac: Buffer(6))    join a link-layer multicast group (PACKET_MR_MULTICAST)
 *   dropMembership(handle, mac: Buffer(6))
 *   close(handle)                            stop reading, release the socket
 *
 * Everything else (frame layout, protocol logic) lives in TypeScript.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <node_api.h>
#include <uv.h>

#define FRAME_MAX 65536

typedef struct {
  int fd;
  int ifindex;
  int closed;
  napi_env env;
  napi_ref on_frame;
  uv_poll_t *poll;
  unsigned char buf[FRAME_MAX];
} packet_socket;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, err == EPERM || err == EACCES ? "EPERM" : "EPACKET", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return -1;
  if (len == 0 || len >= cap - 1) return -1;
  return 0;
}

/* interfaceInfo(name) */
static napi_value interface_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  if (argc < 1 || get_string(env, argv[0], name, sizeof name) != 0)
    return throw_type(env, "interfaceInfo(name): name must be an interface name (1-15 characters)");

  unsigned int index = if_nametoindex(name);
  if (index == 0) return throw_errno(env, "if_nametoindex", errno);

  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, "socket", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
    int e = errno;
    close(s);
    return throw_errno(env, "SIOCGIFHWADDR", e);
  }
  unsigned char mac[6];
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  int hwtype = ifr.ifr_hwaddr.sa_family;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  int flags = 0;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) flags = ifr.ifr_flags;
  close(s);

  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_uint32(env, index, &v);
  napi_set_named_property(env, result, "index", v);
  void *data;
  napi_create_buffer_copy(env, 6, mac, &data, &v);
  napi_set_named_property(env, result, "mac", v);
  napi_create_int32(env, flags, &v);
  napi_set_named_property(env, result, "flags", v);
  napi_create_int32(env, hwtype, &v);
  napi_set_named_property(env, result, "hwType", v);
  return result;
}

static void on_poll_closed(uv_handle_t *h) {
  free(h);
}

/* Stops reading and releases the fd; safe to call twice. */
static void release(packet_socket *ps, int delete_ref) {
  if (ps->closed) return;
  ps->closed = 1;
  if (ps->poll) {
    uv_poll_stop(ps->poll);
    uv_close((uv_handle_t *)ps->poll, on_poll_closed);
    ps->poll = NULL;
  }
  if (ps->fd >= 0) {
    close(ps->fd);
    ps->fd = -1;
  }
  if (delete_ref && ps->on_frame) {
    napi_delete_reference(ps->env, ps->on_frame);
    ps->on_frame = NULL;
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  packet_socket *ps = (packet_socket *)handle->data;
  if (ps == NULL || ps->closed) return;
  if (status < 0) {
    /* POLLERR: libuv has stopped this handle. An AF_PACKET socket reports ENETDOWN when its link
     * goes down and receives again once it is up, so clear the error and keep polling (otherwise
     * the speaker would never see another ARP/NDP request after a link flap). */
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(ps->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    uv_poll_start(ps->poll, UV_READABLE, on_readable);
    return;
  }
  if (!(events & UV_READABLE)) return;

  napi_env env = ps->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, global;
  napi_get_reference_value(env, ps->on_frame, &cb);
  napi_get_global(env, &global);
  napi_async_context actx = NULL;
  napi_value resource_name;
  napi_create_string_utf8(env, "bmlb.packet", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &actx);

  /* Drain what is queued now, but bound the batch so one flood cannot starve the loop. */
  for (int i = 0; i < 256 && !ps->closed; i++) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(ps->fd, ps->buf, sizeof ps->buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n < 0) break; /* EAGAIN or a transient error: wait for the next readiness */
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    napi_value frame, argv[2], ret;
    void *data;
    napi_create_buffer_copy(env, (size_t)n, ps->buf, &data, &frame);
    argv[0] = frame;
    napi_create_uint32(env, from.sll_pkttype, &argv[1]);
    napi_handle_scope inner;
    napi_open_handle_scope(env, &inner);
    napi_status st = napi_make_callback(env, actx, global, cb, 2, argv, &ret);
    napi_close_handle_scope(env, inner);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
      break;
    }
  }
  napi_async_destroy(env, actx);
  napi_close_handle_scope(env, scope);
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  packet_socket *ps = (packet_socket *)data;
  /* The reference is deleted by close(); at teardown the env deletes it for us. */
  release(ps, 0);
  free(ps);
}

/* open(name, ethertype, filter|null, onFrame) */
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, "open(name, ethertype, filter, onFrame): 4 arguments expected");
  char name[IFNAMSIZ + 1];
  if (get_string(env, argv[0], name, sizeof name) != 0)
    return throw_type(env, "open: name must be an interface name (1-15 characters)");
  uint32_t ethertype;
  if (napi_get_value_uint32(env, argv[1], &ethertype) != napi_ok || ethertype > 0xffff)
    return throw_type(env, "open: ethertype must be a number 0-65535");

  napi_valuetype t;
  struct sock_fprog prog = {0, NULL};
  napi_typeof(env, argv[2], &t);
  if (t != napi_null && t != napi_undefined) {
    bool is_buf = false;
    napi_is_buffer(env, argv[2], &is_buf);
    if (!is_buf) return throw_type(env, "open: filter must be a Buffer of struct sock_filter or null");
    void *fdata;
    size_t flen;
    napi_get_buffer_info(env, argv[2], &fdata, &flen);
    if (flen == 0 || flen % sizeof(struct sock_filter) != 0 || flen / sizeof(struct sock_filter) > BPF_MAXINSNS)
      return throw_type(env, "open: filter length must be a non-zero multiple of 8 bytes");
    prog.len = (unsigned short)(flen / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)fdata;
  }
  napi_typeof(env, argv[3], &t);
  if (t != napi_function) return throw_type(env, "open: onFrame must be a function");

  unsigned int ifindex = if_nametoindex(name);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno);

  /* Open with protocol 0 (receives nothing), attach the filter, then bind to the protocol:
   * no unfiltered frame can slip in between socket() and setsockopt(). */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  if (prog.len > 0 && setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_ATTACH_FILTER", e);
  }
  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof addr);
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons((uint16_t)ethertype);
  addr.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }

  packet_socket *ps = (packet_socket *)calloc(1, sizeof *ps);
  if (ps == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  ps->fd = fd;
  ps->ifindex = (int)ifindex;
  ps->env = env;
  napi_create_reference(env, argv[3], 1, &ps->on_frame);

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  ps->poll = (uv_poll_t *)calloc(1, sizeof(uv_poll_t));
  if (ps->poll == NULL || uv_poll_init(loop, ps->poll, fd) != 0) {
    free(ps->poll);
    ps->poll = NULL;
    napi_delete_reference(env, ps->on_frame);
    close(fd);
    free(ps);
    return throw_errno(env, "uv_poll_init", EIO);
  }
  ps->poll->data = ps;
  uv_poll_start(ps->poll, UV_READABLE, on_readable);

  napi_value handle;
  napi_create_external(env, ps, finalize_socket, NULL, &handle);
  return handle;
}

static packet_socket *get_socket(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external) return NULL;
  void *p = NULL;
  napi_get_value_external(env, v, &p);
  return (packet_socket *)p;
}

/* send(handle, frame) */
static napi_value send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  packet_socket *ps = argc >= 1 ? get_socket(env, argv[0]) : NULL;
  if (ps == NULL) return throw_type(env, "send(handle, frame): handle must come from open()");
  if (ps->closed) return throw_errno(env, "send", EBADF);
  bool is_buf = false;
  if (argc >= 2) napi_is_buffer(env, argv[1], &is_buf);
  if (!is_buf) return throw_type(env, "send: frame must be a Buffer");
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[1], &data, &len);
  if (len < 14) return throw_type(env, "send: frame shorter than an Ethernet header");
  ssize_t n = send(ps->fd, data, len, MSG_DONTWAIT);
  if (n < 0) return throw_errno(env, "send", errno);
  napi_value r;
  napi_create_int64(env, (int64_t)n, &r);
  return r;
}

static napi_value membership(napi_env env, napi_callback_info info, int opt) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  packet_socket *ps = argc >= 1 ? get_socket(env, argv[0]) : NULL;
  if (ps == NULL) return throw_type(env, "membership(handle, mac): handle must come from open()");
  if (ps->closed) return throw_errno(env, "membership", EBADF);
  bool is_buf = false;
  if (argc >= 2) napi_is_buffer(env, argv[1], &is_buf);
  void *data = NULL;
  size_t len = 0;
  if (is_buf) napi_get_buffer_info(env, argv[1], &data, &len);
  if (len != 6) return throw_type(env, "membership: mac must be a 6-byte Buffer");
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = ps->ifindex;
  mr.mr_type = PACKET_MR_MULTICAST;
  mr.mr_alen = 6;
  memcpy(mr.mr_address, data, 6);
  if (setsockopt(ps->fd, SOL_PACKET, opt, &mr, sizeof mr) < 0)
    return throw_errno(env, opt == PACKET_ADD_MEMBERSHIP ? "PACKET_ADD_MEMBERSHIP" : "PACKET_DROP_MEMBERSHIP", errno);
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

static napi_value add_membership(napi_env env, napi_callback_info info) {
  return membership(env, info, PACKET_ADD_MEMBERSHIP);
}

static napi_value drop_membership(napi_env env, napi_callback_info info) {
  return membership(env, info, PACKET_DROP_MEMBERSHIP);
}

/* close(handle) */
static napi_value close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  packet_socket *ps = argc >= 1 ? get_socket(env, argv[0]) : NULL;
  if (ps == NULL) return throw_type(env, "close(handle): handle must come from open()");
  release(ps, 1);
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"interfaceInfo", NULL, interface_info, NULL, NULL, NULL, napi_enumerable, NULL},
    {"open", NULL, open_socket, NULL, NULL, NULL, napi_enumerable, NULL},
    {"send", NULL, send_frame, NULL, NULL, NULL, napi_enumerable, NULL},
    {"addMembership", NULL, add_membership, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dropMembership", NULL, drop_membership, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, close_socket, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
