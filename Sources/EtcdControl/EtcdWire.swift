import Foundation
import Hashing

/// The JSON of etcd's v3 gateway (grpc-gateway over `etcdserverpb`): keys and values in base64, 64-bit integers as
/// strings, fields at their default value left out (a failed transaction has no `succeeded`). Only what the control
/// plane uses.
enum EtcdWire {
    /// A 64-bit integer as etcd writes it (a string), read from a string or a number.
    struct Int64Text: Codable, Equatable {
        var value: Int64
        init(_ value: Int64) { self.value = value }
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self), let value = Int64(text) {
                self.value = value
            } else {
                value = try container.decode(Int64.self)
            }
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(String(value))
        }
    }

    /// Bytes as base64.
    typealias Bytes = Base64Bytes

    struct Header: Codable { var revision: Int64Text? }

    struct KeyValue: Codable {
        var key: Bytes
        var value: Bytes?
        var mod_revision: Int64Text?
    }

    struct RangeRequest: Codable {
        var key: Bytes
        var range_end: Bytes?
        var limit: Int64Text?
        var revision: Int64Text?
        var sort_order: String?
        var sort_target: String?
        var keys_only: Bool?
        var min_mod_revision: Int64Text?
    }

    struct RangeResponse: Codable {
        var header: Header?
        var kvs: [KeyValue]?
        var more: Bool?
    }

    struct PutRequest: Codable {
        var key: Bytes
        var value: Bytes
    }

    struct DeleteRangeRequest: Codable { var key: Bytes }

    struct RevisionResponse: Codable { var header: Header? }

    struct Compare: Codable {
        var key: Bytes
        var target: String
        var result: String
        var mod_revision: Int64Text
    }

    struct RequestOp: Codable {
        var request_put: PutRequest?
        var request_range: RangeRequest?
        var request_delete_range: DeleteRangeRequest?
    }

    struct TxnRequest: Codable {
        var compare: [Compare]
        var success: [RequestOp]
        var failure: [RequestOp]
    }

    struct ResponseOp: Codable { var response_range: RangeResponse? }

    struct TxnResponse: Codable {
        var header: Header?
        var succeeded: Bool?
        var responses: [ResponseOp]?
    }

    struct CompactionRequest: Codable {
        var revision: Int64Text
        var physical: Bool
    }

    struct WatchCreate: Codable {
        var key: Bytes
        var range_end: Bytes
        var start_revision: Int64Text
        var progress_notify: Bool
    }

    struct WatchRequest: Codable { var create_request: WatchCreate }

    struct Event: Codable {
        var type: String?
        var kv: KeyValue
    }

    struct WatchResult: Codable {
        var header: Header?
        var created: Bool?
        var canceled: Bool?
        var compact_revision: Int64Text?
        var cancel_reason: String?
        var events: [Event]?
    }

    struct ErrorBody: Codable {
        var message: String?
        var code: Int?
    }

    struct WatchLine: Codable {
        var result: WatchResult?
        var error: ErrorBody?
    }
}

extension Base64Bytes {
    /// A key's UTF-8.
    init(_ text: String) { self.init(Array(text.utf8)) }
}
