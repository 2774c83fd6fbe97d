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
        // Parsed as bytes: Strings here cost the load generator a fifth of its CPU.
        let head = UnsafeRawBufferPointer(rebasing: buffer[..<headEnd])
        let statusLine = Self.line(head, from: 0)
        guard statusLine.count >= 12, head.starts(with: "HTTP/1.1 ".utf8),
              let status = Self.decimal(head[9..<12]) else {
            throw Failure(description: "not an HTTP/1.1 response: "
                + String(decoding: head[statusLine], as: UTF8.self))
        }
        var length: Int?
        var closing = false
        var start = statusLine.upperBound + 2
        while start < headEnd - 2 {
            let line = Self.line(head, from: start)
            start = line.upperBound + 2
            guard let colon = head[line].firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = head[line.lowerBound..<colon]
            let value = Self.trimmed(head[(colon + 1)..<line.upperBound])
            if Self.equalsIgnoringCase(name, "content-length") {
                guard let parsed = Self.decimal(value) else {
                    throw Failure(description: "invalid Content-Length: \(String(decoding: value, as: UTF8.self))")
                }
                length = parsed
            } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
                throw Failure(description: "unsupported response framing: \(String(decoding: value, as: UTF8.self))")
            } else if Self.equalsIgnoringCase(name, "connection") {
                closing = Self.equalsIgnoringCase(value, "close")
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

    /// The line of `bytes` starting at `start`, without its CRLF (a head always ends with one).
    private static func line(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Range<Int> {
        var end = start
        while end + 1 < bytes.count, !(bytes[end] == 13 && bytes[end + 1] == 10) { end += 1 }
        return start..<end
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var bytes = bytes
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return bytes
    }

    /// A non-negative decimal of at most 18 digits, or nil.
    private static func decimal(_ bytes: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    /// ASCII case-insensitive equality with a lower-case `text`.
    private static func equalsIgnoringCase(_ bytes: Slice<UnsafeRawBufferPointer>, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        return zip(bytes, expected).allSatisfy { (0x41...0x5A).contains($0) ? $0 | 0x20 == $1 : $0 == $1 }
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
