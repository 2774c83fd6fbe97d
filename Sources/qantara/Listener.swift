import Foundation
import NIOCore
import ServiceLifecycle

/// A server of the gateway's process: a failure to listen stops the process with one line naming the address.
struct Listener: Service {
    let address: ListenAddress
    /// What listens there, for the message.
    let role: String
    let app: any Service

    func run() async throws {
        do { try await app.run() } catch let error as IOError {
            throw ListenError(description: "cannot listen on \(address.host):\(address.port) for \(role): "
                + (error.errnoCode == EADDRINUSE ? "the address is already in use (another qantara, or another "
                   + "program, listens there; see --listen and --gateway)" : "\(error)"))
        }
    }
}

struct ListenError: Error, CustomStringConvertible {
    let description: String
}

extension ListenAddress {
    /// Throws, naming the address and what was to listen there, when it cannot be bound now (in use, or not an
    /// address of this host): checked before anything starts, so a taken port stops the start with one line. The
    /// servers bind for real later; ``Listener`` reports a port taken in between the same way.
    func checkBindable(for role: String) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw ListenError(description: "cannot listen on \(host):\(port) for \(role): \(host) is not a known host")
        }
        defer { freeaddrinfo(first) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                                first.pointee.ai_protocol)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let reason = errno == EADDRINUSE
                ? "the address is already in use (another qantara, or another program, listens there; see --listen "
                    + "and --gateway)"
                : String(cString: strerror(errno))
            throw ListenError(description: "cannot listen on \(host):\(port) for \(role): \(reason)")
        }
    }
}
