@echo off
rem SPDX-License-Identifier: GPL-2.0-or-later
rem
rem A stand-in for the Windows system tools chimney-setup.cmd calls, for
rem running the script under Wine's cmd (tests/wguest/test-setup-cmd.sh):
rem   fake-tool.cmd TOOL ARGS...
rem Every call is logged to %FAKE_STATE%\calls.log; the state of the
rem "machine" (test signing, services, the IM, the task) is files in
rem %FAKE_STATE%.  A reboot (shutdown /r) turns a pending bcdedit setting
rem into an active one.
setlocal EnableExtensions
if "%~1"=="/?" (
    echo fake-tool.cmd TOOL ARGS...: a stand-in for a Windows system tool,
    echo for chimney-setup.cmd under Wine; see tests/wguest/test-wine.sh
    exit /b 0
)
set "S=%FAKE_STATE%"
set "T=%~1"
shift
>>"%S%\calls.log" echo %T% %1 %2 %3 %4 %5 %6
goto t_%T%

:t_certutil
if /i "%~1"=="-hashfile" (
    echo SHA1 hash of file %~2:
    echo da 39 a3 ee 5e 6b 4b 0d 32 55 bf ef 95 60 18 90 af d8 07 09
    echo CertUtil: -hashfile command completed successfully.
)
exit /b 0

:t_bcdedit
type nul > "%S%\bcd-testsigning"
exit /b 0

:t_reg
if exist "%S%\booted-testsigning" (
    echo     SystemStartOptions    REG_SZ     NOEXECUTE=OPTIN  TESTSIGNING
) else (
    echo     SystemStartOptions    REG_SZ     NOEXECUTE=OPTIN
)
exit /b 0

:t_shutdown
if exist "%S%\bcd-testsigning" type nul > "%S%\booted-testsigning"
exit /b 0

:t_pnputil
if exist "%S%\fail-pnputil" exit /b 1
type nul > "%S%\svc-chimneynic"
echo Driver package added successfully.
exit /b 0

:t_sc
if exist "%S%\svc-%~2" (
    echo SERVICE_NAME: %~2
    echo         STATE              : 4  RUNNING
    exit /b 0
)
echo [SC] EnumQueryServicesStatus:OpenService FAILED 1060:
exit /b 1060

:t_netcfg
if /i "%~1"=="-q" (
    if exist "%S%\im" (echo %~2 is installed.) else (echo %~2 is not installed.)
    exit /b 0
)
type nul > "%S%\im"
type nul > "%S%\svc-chimneyim"
exit /b 0

:t_netsh
if /i "%~4"=="show" goto netsh_show
if /i "%~3"=="show" goto netsh_show
type nul > "%S%\chimney"
echo Ok.
exit /b 0
:netsh_show
echo TCP Global Parameters
echo ----------------------------------------------
if exist "%S%\chimney" (
    echo Chimney Offload State               : enabled
) else (
    echo Chimney Offload State               : automatic
)
exit /b 0

:t_schtasks
if /i "%~1"=="/query" (
    if exist "%S%\task" exit /b 0
    exit /b 1
)
if /i "%~1"=="/create" type nul > "%S%\task"
if /i "%~1"=="/delete" del "%S%\task" 2>nul
exit /b 0

:t_wmic
echo DeviceName=QEMU TCP Chimney Offload NIC (chimney-nic)
echo DriverVersion=1.1.0.0
echo InfName=oem7.inf
echo IsSigned=TRUE
echo.
echo DeviceName=chimney-im virtual adapter
echo DriverVersion=1.1.0.0
exit /b 0

:t_mode
exit /b 0

:t_admin
if exist "%S%\not-admin" exit /b 1
exit /b 0
