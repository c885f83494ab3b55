/* ISO 8583 field 39 response codes used on the wire (DOMAIN.md), as one table. */
#ifndef KKS_RC_H
#define KKS_RC_H

/* X(name, code, meaning, en, id): the ISO 8583 meaning (what kks_rc_meaning gives and logs
 * compare against), then the words a person reads on a receipt or a terminal, in English and
 * in Bahasa Indonesia. The one table of codes and their words: receipts, kks-terminal's JSON,
 * training and load reports all read it through kks_rc_meaning() and kks_rc_text(). */
#define KKS_RC_MAP(X)                                                                              \
    X(APPROVED, "00", "approved", "Approved", "Transaksi berhasil")                                \
    X(DO_NOT_HONOR, "05", "do not honor", "Declined by the issuer (e.g. card not activated yet)",  \
      "Ditolak bank penerbit (mis. kartu belum diaktifkan)")                                       \
    X(INVALID_TXN, "12", "invalid transaction", "Invalid transaction", "Transaksi tidak valid")    \
    X(INVALID_AMOUNT, "13", "invalid amount", "Invalid amount", "Jumlah tidak valid")              \
    X(NO_CARD, "14", "no such card", "Unknown card number", "Nomor kartu tidak dikenal")           \
    X(FORMAT, "30", "format error", "Message format error", "Format pesan salah")                  \
    X(LOST, "41", "lost card", "Card reported lost", "Kartu dilaporkan hilang")                    \
    X(STOLEN, "43", "stolen card", "Card reported stolen", "Kartu dilaporkan dicuri")              \
    X(NSF, "51", "insufficient funds", "Insufficient balance", "Saldo tidak cukup")                \
    X(EXPIRED, "54", "expired card", "Card expired", "Kartu sudah kedaluwarsa")                    \
    X(BAD_PIN, "55", "incorrect PIN", "Incorrect PIN", "PIN salah")                                \
    X(NOT_PERMITTED_CARD, "57", "transaction not permitted to cardholder",                         \
      "Transaction not permitted for this card", "Transaksi tidak diizinkan untuk kartu ini")      \
    X(NOT_PERMITTED_TERMINAL, "58", "transaction not permitted to terminal",                       \
      "Transaction not permitted at this terminal", "Transaksi tidak diizinkan di terminal ini")   \
    X(OVER_LIMIT, "61", "exceeds amount limit", "Exceeds the amount limit",                        \
      "Melebihi batas jumlah")                                                                     \
    X(SECURITY, "63", "security violation",                                                        \
      "Cardholder check failed: the NIK is not the card holder's",                                 \
      "Verifikasi gagal: NIK bukan milik pemegang kartu")                                          \
    X(OVER_FREQUENCY, "65", "exceeds frequency limit", "Exceeds the frequency limit",              \
      "Melebihi batas frekuensi transaksi")                                                        \
    X(ISSUER_TIMEOUT, "68", "issuer response timed out", "The issuer did not answer in time",      \
      "Bank penerbit tidak menjawab tepat waktu")                                                  \
    X(PIN_TRIES, "75", "PIN tries exceeded", "Too many wrong PINs: card blocked",                  \
      "Salah PIN 3 kali: kartu diblokir")                                                          \
    X(INOPERATIVE, "91", "issuer or switch inoperative", "Issuer or switch unavailable",           \
      "Bank penerbit atau switch tidak aktif")                                                     \
    X(NO_ROUTE, "92", "no route to issuer", "No route to the issuer",                              \
      "Tidak ada rute ke bank penerbit")                                                           \
    X(DUPLICATE, "94", "duplicate transmission", "Duplicate transmission (STAN used)",             \
      "Transaksi ganda (STAN sudah dipakai)")                                                      \
    X(SYSTEM, "96", "system malfunction", "System malfunction", "Gangguan sistem")

#define KKS_RC_APPROVED "00"
#define KKS_RC_DO_NOT_HONOR "05"
#define KKS_RC_INVALID_TXN "12"
#define KKS_RC_INVALID_AMOUNT "13"
#define KKS_RC_NO_CARD "14"
#define KKS_RC_FORMAT "30"
#define KKS_RC_LOST "41"
#define KKS_RC_STOLEN "43"
#define KKS_RC_NSF "51"
#define KKS_RC_EXPIRED "54"
#define KKS_RC_BAD_PIN "55"
#define KKS_RC_NOT_PERMITTED_CARD "57"
#define KKS_RC_NOT_PERMITTED_TERMINAL "58"
#define KKS_RC_OVER_LIMIT "61"
#define KKS_RC_SECURITY "63"
#define KKS_RC_OVER_FREQUENCY "65"
#define KKS_RC_ISSUER_TIMEOUT "68"
#define KKS_RC_PIN_TRIES "75"
#define KKS_RC_INOPERATIVE "91"
#define KKS_RC_NO_ROUTE "92"
#define KKS_RC_DUPLICATE "94"
#define KKS_RC_SYSTEM "96"

/* The standard meaning of a code ("lost card"), or "unknown response code". */
const char *kks_rc_meaning(const char *rc);

/* The language a person reads: Bahasa Indonesia (the default) or English. */
typedef enum kks_lang { KKS_LANG_ID = 0, KKS_LANG_EN = 1 } kks_lang;

/* What a code means to a card holder or an agent, in lang: "Saldo tidak cukup" /
 * "Insufficient balance"; for a code not in the table (or NULL), "Kode respon tidak
 * dikenal" / "Unknown response code". Never NULL. */
const char *kks_rc_text(const char *rc, kks_lang lang);

#endif
