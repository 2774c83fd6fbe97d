import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive HTTP/1.1 connection on a blocking socket, for `qantara bench --client socket`: a request is one
/// `writev` (head and body), a response is read into one reused buffer and dropped. It does per request about what
/// warp's or wrk's connections do, so the load generator takes less of the machine's CPU from the server it
/// measures than AsyncHTTPClient does. Responses must be framed by `Content-Length` (or have no body); anything
/// else is an error, not a guess. Use from one thread.
final class BenchConnection {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let address: sockaddr_in
    private var socket: Int32 = -1
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    /// Bytes of the next response already read into `buffer` (none: responses are read exactly).
    private var buffered = 0

    init(host: String, port: Int) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw Failure(description: "--client socket needs an IPv4 address in --endpoint, not \(host)")
        }
        self.address = address
    }

    deinit {
        if socket >= 0 { close(socket) }
        buffer.deallocate()
    }

    /// Sends `head` and `body`, reads the whole response; returns its status and body length.
    func roundTrip(head: [UInt8], body: UnsafeRawBufferPointer?) throws -> (status: Int, bodyBytes: Int) {
        if socket < 0 { try connect() }
        do {
            try send(head, body)
            return try receive()
        } catch {
            close(socket)
            socket = -1
            throw error
        }
    }

    private func connect() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Self.failure("socket") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var target = address
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw Self.failure("connect")
        }
        socket = fd
        buffered = 0
    }

    private func send(_ head: [UInt8], _ body: UnsafeRawBufferPointer?) throws {
        try head.withUnsafeBytes { head in
            var parts = [head, body ?? UnsafeRawBufferPointer(start: nil, count: 0)]
            while parts.contains(where: { !$0.isEmpty }) {
                var vectors = parts.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
                let written = writev(socket, &vectors, Int32(vectors.count))
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { throw Self.failure("write") }
                var left = written
                for index in parts.indices {
                    let taken = min(left, parts[index].count)
                    parts[index] = UnsafeRawBufferPointer(rebasing: parts[index][taken...])
                    left -= taken
                }
            }
        }
    }

    /// Reads at least one more byte into `buffer` after `buffered`.
    private func fill() throws {
        guard buffered < buffer.count else { throw Failure(description: "response head larger than the buffer") }
        var count: Int
        repeat {
            count = read(socket, buffer.baseAddress! + buffered, buffer.count - buffered)
        } while count < 0 && errno == EINTR
        guard count > 0 else { throw count == 0 ? Failure(description: "connection closed") : Self.failure("read") }
        buffered += count
    }

    private func receive() throws -> (status: Int, bodyBytes: Int) {
        // The head: up to the blank line.
        var headEnd = 0
        var scanned = 0
        while headEnd == 0 {
            try fill()
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<buffered])
            var index = max(0, scanned - 3)
            while index + 3 < bytes.count {
                if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                    headEnd = index + 4
                    break
                }
                index += 1
            }
            scanned = bytes.count
        }
        let head = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[..<headEnd]), as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
              let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw Failure(description: "not an HTTP/1.1 response: \(lines.first ?? "")")
        }
        var length: Int?
        var closing = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length": length = Int(value)
            case "transfer-encoding": throw Failure(description: "unsupported response framing: \(value)")
            case "connection": closing = value.lowercased() == "close"
            default: break
            }
        }
        let bodyless = status == 204 || status == 304 || (100..<200).contains(status)
        guard let length = bodyless ? 0 : length else {
            throw Failure(description: "response without Content-Length (status \(status))")
        }
        // The body: counted and dropped, the buffer reused.
        var left = length - (buffered - headEnd)
        guard left >= 0 else { throw Failure(description: "bytes after the response (pipelining is not used)") }
        buffered = 0
        while left > 0 {
            var count: Int
            repeat {
                count = read(socket, buffer.baseAddress!, min(buffer.count, left))
            } while count < 0 && errno == EINTR
            guard count > 0 else { throw count == 0 ? Failure(description: "connection closed") : Self.failure("read") }
            left -= count
        }
        if closing {
            close(socket)
            socket = -1
        }
        return (status, length)
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
