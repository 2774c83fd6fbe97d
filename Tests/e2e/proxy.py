"""A TCP relay that can fall silent: after `freeze()` the connections it relays stay open but carry nothing more
(a peer that died without closing, a half-open connection), while new connections are relayed as before."""
import socket
import threading


class FreezableProxy:
    def __init__(self, target):
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.frozen = set()  # connections opened before the last freeze
        self.connections = []
        self.lock = threading.Lock()
        self.running = True

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def freeze(self):
        with self.lock:
            self.frozen.update(id(pair) for pair in self.connections)

    def stop(self):
        self.running = False
        self.listener.close()
        with self.lock:
            for pair in self.connections:
                for sock in pair:
                    sock.close()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            pair = (client, upstream)
            with self.lock:
                self.connections.append(pair)
            threading.Thread(target=self._relay, args=(pair, client, upstream), daemon=True).start()
            threading.Thread(target=self._relay, args=(pair, upstream, client), daemon=True).start()

    def _relay(self, pair, source, sink):
        while self.running:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                silent = id(pair) in self.frozen
            if silent:
                continue  # swallowed: the connection stays open and says nothing
            try:
                sink.sendall(data)
            except OSError:
                return
