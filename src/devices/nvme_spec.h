/* NVM Express 1.4 definitions the emulated controller uses: register
 * offsets and fields (§3.1), command opcodes (§5, §6), status codes
 * (§4.6.1.2) and the layout of submission/completion queue entries (§4.2,
 * §4.6). Little-endian on the wire, as the host is. */
#ifndef IOVIRT_DEVICES_NVME_SPEC_H
#define IOVIRT_DEVICES_NVME_SPEC_H

#include <stdint.h>

#define NVME_PAGE_SIZE 4096u  /* CC.MPS 0: the only memory page size we offer */
#define NVME_PAGE_SHIFT 12

/* ---- Controller registers (§3.1) ---- */
#define NVME_REG_CAP   0x00   /* 64-bit */
#define NVME_REG_VS    0x08
#define NVME_REG_INTMS 0x0c
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC    0x14
#define NVME_REG_CSTS  0x1c
#define NVME_REG_NSSR  0x20
#define NVME_REG_AQA   0x24
#define NVME_REG_ASQ   0x28   /* 64-bit */
#define NVME_REG_ACQ   0x30   /* 64-bit */
#define NVME_REG_END   0x40   /* registers we back; the rest of page 0 reads 0 */
#define NVME_REG_DBS   0x1000 /* doorbells, stride 4 << CAP.DSTRD (0) */

#define NVME_VS_1_4 0x00010400u

#define NVME_CC_EN           (1u << 0)
#define NVME_CC_CSS(cc)      (((cc) >> 4) & 7)
#define NVME_CC_MPS(cc)      (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc)      (((cc) >> 11) & 7)
#define NVME_CC_SHN(cc)      (((cc) >> 14) & 3)
#define NVME_CC_IOSQES(cc)   (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc)   (((cc) >> 20) & 0xf)

#define NVME_CSTS_RDY        (1u << 0)
#define NVME_CSTS_CFS        (1u << 1)
#define NVME_CSTS_SHST_MASK  (3u << 2)
#define NVME_CSTS_SHST_BUSY  (1u << 2)
#define NVME_CSTS_SHST_DONE  (2u << 2)

#define NVME_SQES 6   /* 64-byte submission queue entries */
#define NVME_CQES 4   /* 16-byte completion queue entries */

/* ---- Queue entries ---- */
struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags;        /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status;      /* phase tag in bit 0 */
};

_Static_assert(sizeof(struct nvme_sqe) == 1u << NVME_SQES, "SQE size");
_Static_assert(sizeof(struct nvme_cqe) == 1u << NVME_CQES, "CQE size");

/* ---- Admin opcodes (§5) ---- */
enum {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG_PAGE = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_ASYNC_EVENT = 0x0c,
	NVME_ADM_KEEP_ALIVE = 0x18,
	NVME_ADM_DBBUF_CONFIG = 0x7c,
};

/* ---- NVM command set opcodes (§6) ---- */
enum {
	NVME_CMD_FLUSH = 0x00,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02,
	NVME_CMD_WRITE_ZEROES = 0x08,
	NVME_CMD_DSM = 0x09,
};

/* Identify CNS values (§5.15.1) */
enum {
	NVME_CNS_NS = 0x00,
	NVME_CNS_CTRL = 0x01,
	NVME_CNS_ACTIVE_NS_LIST = 0x02,
	NVME_CNS_NS_DESC_LIST = 0x03,
};

/* Feature identifiers (§5.21.1) */
enum {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERROR_RECOVERY = 0x05,
	NVME_FEAT_VOLATILE_WC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_IRQ_CONFIG = 0x09,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_NR = 0x0c,          /* features we keep a value for */
};

/* Log pages (§5.14.1) */
enum {
	NVME_LOG_ERROR = 0x01,
	NVME_LOG_SMART = 0x02,
	NVME_LOG_FW_SLOT = 0x03,
};

/* ---- Status (§4.6.1.2): SCT in bits 10:8, SC in 7:0, DNR bit 14 (as the
 * status field shifted right by one, before the phase tag goes in). ---- */
#define NVME_SCT_GENERIC  0x000
#define NVME_SCT_CMD      0x100
#define NVME_SCT_MEDIA    0x200
#define NVME_DNR          0x4000

enum {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01 | NVME_DNR,
	NVME_SC_INVALID_FIELD = 0x02 | NVME_DNR,
	NVME_SC_DATA_XFER_ERROR = 0x04,
	NVME_SC_ABORTED_SQ_DELETED = 0x08,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_INVALID_NS = 0x0b | NVME_DNR,
	NVME_SC_PRP_OFFSET_INVALID = 0x13 | NVME_DNR,
	NVME_SC_NS_WRITE_PROTECTED = 0x20 | NVME_DNR,
	NVME_SC_LBA_RANGE = 0x80 | NVME_DNR,
	NVME_SC_CAP_EXCEEDED = 0x81 | NVME_DNR,

	NVME_SC_CQ_INVALID = NVME_SCT_CMD | 0x00 | NVME_DNR,
	NVME_SC_QID_INVALID = NVME_SCT_CMD | 0x01 | NVME_DNR,
	NVME_SC_QUEUE_SIZE = NVME_SCT_CMD | 0x02 | NVME_DNR,
	NVME_SC_ABORT_LIMIT = NVME_SCT_CMD | 0x03 | NVME_DNR,
	NVME_SC_AER_LIMIT = NVME_SCT_CMD | 0x05 | NVME_DNR,
	NVME_SC_INVALID_VECTOR = NVME_SCT_CMD | 0x08 | NVME_DNR,
	NVME_SC_INVALID_LOG_PAGE = NVME_SCT_CMD | 0x09 | NVME_DNR,
	NVME_SC_FEATURE_NOT_SAVEABLE = NVME_SCT_CMD | 0x0d | NVME_DNR,
	NVME_SC_QUEUE_DELETION = NVME_SCT_CMD | 0x0c | NVME_DNR,
	NVME_SC_FEATURE_NOT_CHANGEABLE = NVME_SCT_CMD | 0x0e | NVME_DNR,

	NVME_SC_WRITE_FAULT = NVME_SCT_MEDIA | 0x80,
	NVME_SC_READ_ERROR = NVME_SCT_MEDIA | 0x81,
};

#endif
