import NIOCore
import NIOPosix
import Synchronization

/// A one-slot rendezvous between one producing and one consuming task: `send` returns once `receive` has taken the
/// element, so at most one element waits between them (the bound on a segment stream's memory). Either side, or a
/// timeout, closes it; whoever waits is resumed at once.
final class Handoff<Element: Sendable>: AsyncSequence, Sendable {
    /// The wait of `send` or `receive` took longer than its timeout.
    struct TimedOut: Error {}
    /// `send` on a handoff the consumer closed without an error.
    struct Closed: Error {}

    private enum Waiter {
        case none
        case producer(Element, CheckedContinuation<Void, Error>)
        case consumer(CheckedContinuation<Element?, Error>)
    }

    private struct State {
        var waiter = Waiter.none
        /// Set once closed: nil error = finished.
        var closed: (any Error)??
    }

    private let state = Mutex(State())

    private enum SendStep {
        case deliver(CheckedContinuation<Element?, Error>)
        case fail(any Error)
        case wait
    }

    private enum ReceiveStep {
        case take(Element, CheckedContinuation<Void, Error>)
        case end((any Error)?)
        case wait
    }

    /// Waits until the consumer takes `element`; throws if the handoff is closed first, or after `timeout`.
    func send(_ element: Element, timeout: TimeAmount? = nil) async throws {
        let watchdog = timeout.map { amount in
            Self.timer.scheduleTask(in: amount) { self.close(TimedOut()) }
        }
        defer { watchdog?.cancel() }
        try await withCheckedThrowingContinuation { (producer: CheckedContinuation<Void, Error>) in
            let step = state.withLock { state -> SendStep in
                if let closed = state.closed { return .fail(closed ?? Closed()) }
                switch state.waiter {
                case .consumer(let consumer):
                    state.waiter = .none
                    return .deliver(consumer)
                case .none:
                    state.waiter = .producer(element, producer)
                    return .wait
                case .producer:
                    preconditionFailure("two tasks send on one handoff")
                }
            }
            switch step {
            case .deliver(let consumer):
                consumer.resume(returning: element)
                producer.resume()
            case .fail(let error):
                producer.resume(throwing: error)
            case .wait:
                break
            }
        }
    }

    /// The next element, nil once the producer finished, or the error the handoff was closed with; throws after
    /// `timeout` without an element.
    func receive(timeout: TimeAmount? = nil) async throws -> Element? {
        let watchdog = timeout.map { amount in
            Self.timer.scheduleTask(in: amount) { self.close(TimedOut()) }
        }
        defer { watchdog?.cancel() }
        return try await withCheckedThrowingContinuation { (consumer: CheckedContinuation<Element?, Error>) in
            let step = state.withLock { state -> ReceiveStep in
                switch state.waiter {
                case .producer(let element, let producer):
                    state.waiter = .none
                    return .take(element, producer)
                case .none:
                    if let closed = state.closed { return .end(closed) }
                    state.waiter = .consumer(consumer)
                    return .wait
                case .consumer:
                    preconditionFailure("two tasks receive from one handoff")
                }
            }
            switch step {
            case .take(let element, let producer):
                producer.resume()
                consumer.resume(returning: element)
            case .end(let error?):
                consumer.resume(throwing: error)
            case .end(nil):
                consumer.resume(returning: nil)
            case .wait:
                break
            }
        }
    }

    /// Closes the handoff: finished when `error` is nil (the consumer then sees the end), failed otherwise. A later
    /// close changes nothing. A producer still waiting gets the error (or ``Closed``).
    func close(_ error: (any Error)? = nil) {
        let waiter = state.withLock { state -> Waiter in
            guard state.closed == nil else { return .none }
            state.closed = .some(error)
            defer { state.waiter = .none }
            return state.waiter
        }
        switch waiter {
        case .none: break
        case .producer(_, let producer): producer.resume(throwing: error ?? Closed())
        case .consumer(let consumer):
            if let error { consumer.resume(throwing: error) } else { consumer.resume(returning: nil) }
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let handoff: Handoff
        func next() async throws -> Element? { try await handoff.receive() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handoff: self) }

    private static var timer: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
}
