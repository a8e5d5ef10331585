# Copyright (c) 2026, wasm.oci contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run envoy_wasm_filters, sending the host the modules pulled on the controller that it needs.

A module the controller's pull just downloaded (its result says ``changed``) is new, so no host has it yet: it is
sent into the task's private temporary directory with the first run, which stores it under the Envoy's lock. A module
the controller had already is sent only when the host lacks it: the module says so (``missing_modules``) and changes
nothing, those are sent, and the module runs again. A no-op and an update each cost one module run per host.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MODULE = 'wasm.oci.envoy_wasm_filters'


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        pulls = _module_files(args.get('controller_pulls') or [])
        try:
            # In check mode the pulls wrote nothing, and the module stores nothing.
            fresh = [digest for digest, (_path, changed) in pulls.items() if changed and not self._task.check_mode]
            if fresh:
                args['uploaded_modules'] = self._upload(fresh, pulls)
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            missing = result.get('missing_modules')
            if not missing or result.get('failed'):
                return result
            args['uploaded_modules'] = dict(args.get('uploaded_modules') or {}, **self._upload([entry['digest'] for entry in missing], pulls))
            del result['missing_modules']
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            if result.get('missing_modules'):
                # Another run pruned what was just sent: nothing was applied, so this must not pass for a success.
                raise AnsibleActionFail('The host lost modules sent to it before they were stored (a concurrent run?); '
                                        'nothing was changed: run again')
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _upload(self, digests: list[str], pulls: dict[str, tuple[str, bool]]) -> dict[str, str]:
        """Send each module from the file the controller's pull wrote; the host paths of the copies, by module digest."""
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        uploads = {}
        for digest in digests:
            if digest not in pulls:
                raise AnsibleActionFail(f'No pulled file on the controller holds module {digest}')
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, digest.split(':')[-1] + '.wasm')
            self._transfer_file(pulls[digest][0], remote)
            uploads[digest] = remote
        self._fixup_perms2([self._connection._shell.tmpdir, *uploads.values()])
        return uploads


def _module_files(controller_pulls: list[t.Any]) -> dict[str, tuple[str, bool]]:
    """The controller's pulled files by module digest, and whether the pull downloaded them just now."""
    files: dict[str, tuple[str, bool]] = {}
    for item in controller_pulls:
        digest = ((item.get('image') or {}).get('wasm') or {}).get('digest') if isinstance(item, dict) else None
        if digest and item.get('dest'):
            changed = bool(item.get('changed')) or files.get(digest, ('', False))[1]
            files[digest] = (item['dest'], changed)
    return files
