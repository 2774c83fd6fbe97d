import CPKCS11
import Envelope
import Glibc
import Hashing
import Synchronization

/// A PKCS#11 token (an HSM, or SoftHSM2 in tests) holding AES keys that never leave it: they are generated inside,
/// marked sensitive and non-extractable, and used only through the token's own AES-GCM encryption.
///
/// One logged-in session, used under a lock (PKCS#11 sessions are not safe to share between threads).
public final class PKCS11Token: @unchecked Sendable {
    private let library: UnsafeMutableRawPointer
    private let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    private let session: CK_SESSION_HANDLE
    private let lock = SessionLock()
    public let tokenLabel: String

    /// Errors carry the function and its `CKR_*` code.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        /// The `CKR_*` code, when a PKCS#11 function returned one.
        public var code: CK_RV?

        public init(description: String, code: CK_RV? = nil) {
            self.description = description
            self.code = code
        }
    }

    static func check(_ rv: CK_RV, _ what: String) throws {
        guard rv == CKR_OK else {
            throw Failure(description: "PKCS#11 \(what) failed: CKR 0x\(String(rv, radix: 16))", code: rv)
        }
    }

    /// Loads `modulePath`, opens a session on the token labelled `tokenLabel` and logs in with `pin`.
    public init(modulePath: String, tokenLabel: String, pin: String) throws {
        guard let library = dlopen(modulePath, RTLD_NOW | RTLD_LOCAL) else {
            throw Failure(description: "cannot load PKCS#11 module \(modulePath): \(String(cString: dlerror()))")
        }
        typealias GetFunctionList = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<CK_FUNCTION_LIST>?>?) -> CK_RV
        guard let symbol = dlsym(library, "C_GetFunctionList") else {
            dlclose(library)
            throw Failure(description: "\(modulePath) is not a PKCS#11 module (no C_GetFunctionList)")
        }
        var list: UnsafeMutablePointer<CK_FUNCTION_LIST>?
        try Self.check(unsafeBitCast(symbol, to: GetFunctionList.self)(&list), "C_GetFunctionList")
        guard let functions = list else { throw Failure(description: "empty PKCS#11 function list") }
        Self.openTokens.withLock { $0 += 1 }
        var opened = false
        defer { if !opened, Self.openTokens.withLock({ $0 -= 1; return $0 == 0 }) { _ = list?.pointee.C_Finalize(nil) } }
        var args = CK_C_INITIALIZE_ARGS()
        args.flags = CK_FLAGS(CKF_OS_LOCKING_OK)
        let initialized = functions.pointee.C_Initialize(&args)
        guard initialized == CKR_OK || initialized == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
            try Self.check(initialized, "C_Initialize")
            throw Failure(description: "unreachable")
        }
        var count: CK_ULONG = 0
        try Self.check(functions.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), nil, &count), "C_GetSlotList")
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        try Self.check(functions.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), &slots, &count), "C_GetSlotList")
        var found: CK_SLOT_ID?
        for slot in slots.prefix(Int(count)) {
            var info = CK_TOKEN_INFO()
            guard functions.pointee.C_GetTokenInfo(slot, &info) == CKR_OK else { continue }
            let label = withUnsafeBytes(of: info.label) { String(decoding: $0, as: UTF8.self) }
                .trimmingCharacters(in: " ")
            if label == tokenLabel { found = slot; break }
        }
        guard let slot = found else { throw Failure(description: "no PKCS#11 token labelled \(tokenLabel)") }
        var session: CK_SESSION_HANDLE = 0
        try Self.check(functions.pointee.C_OpenSession(slot, CK_FLAGS(CKF_SERIAL_SESSION | CKF_RW_SESSION), nil, nil,
                                                       &session), "C_OpenSession")
        var pinBytes = Array(pin.utf8)
        let login = functions.pointee.C_Login(session, CK_USER_TYPE(CKU_USER), &pinBytes, CK_ULONG(pinBytes.count))
        guard login == CKR_OK || login == CKR_USER_ALREADY_LOGGED_IN else {
            _ = functions.pointee.C_CloseSession(session)
            throw Failure(description: "PKCS#11 login to token \(tokenLabel) failed: CKR 0x\(String(login, radix: 16)) "
                + (login == CKR_PIN_INCORRECT ? "(wrong PIN)" : ""))
        }
        self.library = library
        self.functions = functions
        self.session = session
        self.tokenLabel = tokenLabel
        opened = true
    }

    deinit {
        _ = functions.pointee.C_Logout(session)
        _ = functions.pointee.C_CloseSession(session)
        // The last token of a module finalizes it, so a later open sees tokens initialised since.
        if Self.openTokens.withLock({ $0 -= 1; return $0 == 0 }) { _ = functions.pointee.C_Finalize(nil) }
    }

    /// Tokens open in this process (they share the loaded module's initialisation).
    private static let openTokens = Mutex<Int>(0)

    /// The handle of the secret key labelled `label`, if the token holds one.
    public func findKey(_ label: String) throws -> CK_OBJECT_HANDLE? {
        try lock.with {
            let template = AttributeTemplate()
            template.add(CKA_CLASS, CK_OBJECT_CLASS(CKO_SECRET_KEY))
            template.add(CKA_LABEL, bytes: Array(label.utf8))
            try Self.check(functions.pointee.C_FindObjectsInit(session, template.attributes, template.count),
                           "C_FindObjectsInit")
            defer { _ = functions.pointee.C_FindObjectsFinal(session) }
            var handle: CK_OBJECT_HANDLE = 0
            var found: CK_ULONG = 0
            try Self.check(functions.pointee.C_FindObjects(session, &handle, 1, &found), "C_FindObjects")
            return found == 1 ? handle : nil
        }
    }

    /// Generates an AES-256 key inside the token: persistent, sensitive, never extractable, for encrypt/decrypt only.
    public func generateAESKey(label: String) throws -> CK_OBJECT_HANDLE {
        try lock.with {
            let template = AttributeTemplate()
            template.add(CKA_CLASS, CK_OBJECT_CLASS(CKO_SECRET_KEY))
            template.add(CKA_KEY_TYPE, CK_KEY_TYPE(CKK_AES))
            template.add(CKA_VALUE_LEN, CK_ULONG(32))
            for flag in [CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT] {
                template.add(flag, CK_BBOOL(CK_TRUE))
            }
            template.add(CKA_EXTRACTABLE, CK_BBOOL(CK_FALSE))
            template.add(CKA_LABEL, bytes: Array(label.utf8))
            var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_KEY_GEN), pParameter: nil, ulParameterLen: 0)
            var handle: CK_OBJECT_HANDLE = 0
            try Self.check(functions.pointee.C_GenerateKey(session, &mechanism, template.attributes, template.count,
                                                           &handle), "C_GenerateKey")
            return handle
        }
    }

    /// Whether the key's value can leave the token (false for keys made by ``generateAESKey(label:)``).
    public func isExtractable(_ key: CK_OBJECT_HANDLE) throws -> Bool {
        try lock.with {
            // [extractable, sensitive], in memory that outlives the call that fills it.
            var flags: [CK_BBOOL] = [CK_BBOOL(CK_TRUE), CK_BBOOL(CK_FALSE)]
            try flags.withUnsafeMutableBufferPointer { values in
                var template = [
                    CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_EXTRACTABLE), pValue: values.baseAddress, ulValueLen: 1),
                    CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_SENSITIVE), pValue: values.baseAddress! + 1, ulValueLen: 1),
                ]
                try Self.check(functions.pointee.C_GetAttributeValue(session, key, &template, 2), "C_GetAttributeValue")
            }
            return flags[0] != CK_BBOOL(CK_FALSE) || flags[1] == CK_BBOOL(CK_FALSE)
        }
    }

    /// Asks the token for the key's value: a compliant token refuses for a sensitive key.
    public func readValue(_ key: CK_OBJECT_HANDLE) -> [UInt8]? {
        lock.with {
            var value = [UInt8](repeating: 0, count: 64)
            return value.withUnsafeMutableBytes { buffer -> [UInt8]? in
                var template = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_VALUE), pValue: buffer.baseAddress,
                                            ulValueLen: CK_ULONG(buffer.count))
                guard functions.pointee.C_GetAttributeValue(session, key, &template, 1) == CKR_OK,
                      template.ulValueLen != CK_ULONG.max else { return nil }
                return Array(buffer.prefix(Int(template.ulValueLen)))
            }
        }
    }

    /// AES-256-GCM encryption by the token: returns nonce (12) || ciphertext || tag (16).
    public func encrypt(_ key: CK_OBJECT_HANDLE, plaintext: [UInt8], aad: [UInt8]) throws -> [UInt8] {
        var nonce = SecureRandom.bytes(12)
        var output = try gcm(key, input: plaintext, nonce: &nonce, aad: aad, encrypting: true)
        output.insert(contentsOf: nonce, at: 0)
        return output
    }

    /// Codes by which tokens report ciphertext that does not authenticate: the standard ones, PKCS#11 3.0's
    /// `CKR_AEAD_DECRYPT_FAILED` (0x35), and `CKR_GENERAL_ERROR`, which SoftHSM2 answers for a GCM tag mismatch.
    static let authenticationFailures: Set<CK_RV> = [CK_RV(CKR_ENCRYPTED_DATA_INVALID), CK_RV(CKR_ENCRYPTED_DATA_LEN_RANGE),
                                                      0x35, CK_RV(CKR_GENERAL_ERROR)]

    /// Opens what ``encrypt(_:plaintext:aad:)`` produced; nil when it does not authenticate. Any other failure of
    /// the token (session lost, device error or removed, key handle gone, not logged in) throws: it says nothing
    /// about the data.
    public func decrypt(_ key: CK_OBJECT_HANDLE, sealed: [UInt8], aad: [UInt8]) throws -> [UInt8]? {
        guard sealed.count >= 12 + 16 else { return nil }
        var nonce = Array(sealed.prefix(12))
        do {
            return try gcm(key, input: Array(sealed.dropFirst(12)), nonce: &nonce, aad: aad, encrypting: false)
        } catch let failure as Failure where failure.code.map(Self.authenticationFailures.contains) == true {
            return nil
        }
    }

    private func gcm(_ key: CK_OBJECT_HANDLE, input: [UInt8], nonce: inout [UInt8], aad: [UInt8], encrypting: Bool) throws
        -> [UInt8]
    {
        try lock.with {
            var aadBytes = aad
            return try nonce.withUnsafeMutableBufferPointer { nonceBuffer in
                try aadBytes.withUnsafeMutableBufferPointer { aadBuffer in
                    var params = CK_GCM_PARAMS(pIv: nonceBuffer.baseAddress, ulIvLen: 12, ulIvBits: 96,
                                               pAAD: aadBuffer.baseAddress, ulAADLen: CK_ULONG(aadBuffer.count),
                                               ulTagBits: 128)
                    return try withUnsafeMutablePointer(to: &params) { paramsPointer in
                        var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_GCM), pParameter: paramsPointer,
                                                     ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size))
                        var inputBytes = input
                        var output = [UInt8](repeating: 0, count: input.count + 16)
                        var outputLength = CK_ULONG(output.count)
                        if encrypting {
                            try Self.check(functions.pointee.C_EncryptInit(session, &mechanism, key), "C_EncryptInit")
                            try Self.check(functions.pointee.C_Encrypt(session, &inputBytes, CK_ULONG(inputBytes.count),
                                                                       &output, &outputLength), "C_Encrypt")
                        } else {
                            try Self.check(functions.pointee.C_DecryptInit(session, &mechanism, key), "C_DecryptInit")
                            try Self.check(functions.pointee.C_Decrypt(session, &inputBytes, CK_ULONG(inputBytes.count),
                                                                       &output, &outputLength), "C_Decrypt")
                        }
                        return Array(output.prefix(Int(outputLength)))
                    }
                }
            }
        }
    }

    /// Destroys a key object in the token.
    public func destroy(_ key: CK_OBJECT_HANDLE) throws {
        try lock.with { try Self.check(functions.pointee.C_DestroyObject(session, key), "C_DestroyObject") }
    }
}

/// A PKCS#11 attribute template whose values live as long as it does.
final class AttributeTemplate {
    private var storage: [UnsafeMutableRawPointer] = []
    private var list: [CK_ATTRIBUTE] = []

    func add<T>(_ type: some BinaryInteger, _ value: T) {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        pointer.storeBytes(of: value, as: T.self)
        storage.append(pointer)
        list.append(CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(type), pValue: pointer, ulValueLen: CK_ULONG(MemoryLayout<T>.size)))
    }

    func add(_ type: some BinaryInteger, bytes: [UInt8]) {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        storage.append(pointer)
        list.append(CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(type), pValue: pointer, ulValueLen: CK_ULONG(bytes.count)))
    }

    private var built: UnsafeMutablePointer<CK_ATTRIBUTE>?

    /// The attributes as one C array, owned by the template (build it once all values are added).
    var attributes: UnsafeMutablePointer<CK_ATTRIBUTE> {
        if let built { return built }
        let array = UnsafeMutablePointer<CK_ATTRIBUTE>.allocate(capacity: max(1, list.count))
        array.initialize(from: list, count: list.count)
        built = array
        return array
    }

    var count: CK_ULONG { CK_ULONG(list.count) }

    deinit {
        for pointer in storage { pointer.deallocate() }
        built?.deallocate()
    }
}

/// A plain mutex for the token session (re-entrancy is not needed: each public call takes it once).
final class SessionLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func with<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var result = Substring(self)
        while result.last == character || result.last == "\0" { result.removeLast() }
        while result.first == character { result.removeFirst() }
        return String(result)
    }
}
