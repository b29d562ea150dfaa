#!/usr/bin/env python3
"""A pyghmi-based BMC simulator that stores System Boot Options.

pyghmi's stock ``Bmc`` only understands boot flags as a boot device and refuses
boot initiator info and mailbox; this subclass keeps the raw parameter bytes of
parameters 0, 3, 4, 5, 6 and 7 (IPMI v2.0 table 28-14) so an RMCP+ client can
write and read them back, and so a test can check what was written without an
IPMI client: after every Set the whole store is written to ``--state`` as JSON.

Completion codes: 0x80 unsupported parameter, 0x81 "set in progress" while not
"set complete", 0xC7 wrong data length, 0xC9 mailbox block past the end.
"""
import argparse
import json
import os
import sys
import uuid

import pyghmi.ipmi.bmc as bmc

# Parameter selector -> data length on Set (mailbox: block selector + 16 bytes).
FIXED_LENGTH = {0: 1, 3: 1, 4: 2, 5: 5, 6: 9}
MAILBOX = 7
BLOCK = 16


class BootOptionsBmc(bmc.Bmc):
    def __init__(self, authdata, port, address, state_path, blocks, guid):
        # pyghmi answers Get System GUID with uuid.bytes_le (SMBIOS byte order).
        super().__init__(authdata, port=port, address=address,
                         bmcuuid=uuid.UUID(guid))
        self.state_path = state_path
        self.params = {0: [0], 3: [0], 4: [0, 0], 5: [0, 0, 0, 0, 0],
                       6: [0] * 9}
        self.invalid = {p: False for p in self.params}
        self.mailbox = [[0] * BLOCK for _ in range(blocks)]
        self.history = []
        self.powered = True
        self.save()

    # -- power (Get Chassis Status / Chassis Control) ------------------------
    def get_power_state(self):
        return 'on' if self.powered else 'off'

    def power_off(self):
        self.powered = False

    def power_on(self):
        self.powered = True

    def power_cycle(self):
        self.powered = True

    def power_reset(self):
        self.powered = True

    def power_shutdown(self):
        self.powered = False

    def get_system_guid(self):
        return self.uuid

    # -- boot options --------------------------------------------------------
    def save(self):
        state = {
            'params': {str(p): bytes(v).hex() for p, v in self.params.items()},
            'invalid': {str(p): v for p, v in self.invalid.items()},
            'mailbox': [bytes(b).hex() for b in self.mailbox],
            'history': self.history,
        }
        tmp = self.state_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, self.state_path)

    def set_code(self, data):
        param = data[0] & 0x7f
        locked = bool(data[0] & 0x80)
        body = list(data[1:])
        if param == MAILBOX:
            if len(body) < 1 or len(body) > 1 + BLOCK:
                return 0xc7
            block = body[0]
            if block >= len(self.mailbox):
                return 0xc9
            chunk = body[1:]
            self.mailbox[block] = chunk + [0] * (BLOCK - len(chunk))
            return 0
        if param not in FIXED_LENGTH:
            return 0x80
        if len(body) != FIXED_LENGTH[param]:
            return 0xc7
        if param == 0:
            wanted = body[0] & 0x03
            if wanted == 1 and self.params[0][0] & 0x03 == 1:
                return 0x81
            # "commit write" is a request, the state returns to "set complete".
            self.params[0] = [0 if wanted == 2 else wanted]
            return 0
        if param == 4:
            mask, bits = body
            old = self.params[4][1]
            self.params[4] = [0, (old & ~mask & 0xff) | (bits & mask)]
            return 0
        self.params[param] = body
        self.invalid[param] = locked
        return 0

    def set_system_boot_options(self, request, session):
        data = list(request['data'])
        code = 0xc7 if not data else self.set_code(data)
        self.history.append({'data': bytes(data).hex(), 'code': code})
        self.save()
        session.send_ipmi_response(code=code)

    def get_system_boot_options(self, request, session):
        data = list(request['data'])
        if len(data) != 3:
            return session.send_ipmi_response(code=0xc7)
        param, setsel = data[0] & 0x7f, data[1]
        if param == MAILBOX:
            if setsel >= len(self.mailbox):
                return session.send_ipmi_response(code=0xc9)
            return session.send_ipmi_response(
                data=[1, MAILBOX, setsel] + self.mailbox[setsel])
        if param not in self.params:
            return session.send_ipmi_response(code=0x80)
        flag = 0x80 if self.invalid[param] else 0
        session.send_ipmi_response(
            data=[1, param | flag] + self.params[param])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--address', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--user', default='admin')
    ap.add_argument('--password', default='password')
    ap.add_argument('--state', required=True)
    ap.add_argument('--mailbox-blocks', type=int, default=16)
    ap.add_argument('--guid', default='62636d2d-7369-6d2d-626d-632d67756964',
                    help='system GUID (text form) reported by Get System GUID')
    args = ap.parse_args()
    sim = BootOptionsBmc({args.user: args.password}, args.port, args.address,
                         args.state, args.mailbox_blocks, args.guid)
    print('bmc-sim listening on %s:%d' % (args.address, args.port), flush=True)
    sim.listen(timeout=30)


if __name__ == '__main__':
    sys.exit(main())
