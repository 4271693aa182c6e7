@echo off
rem SPDX-License-Identifier: GPL-2.0-or-later
rem
rem chimney-setup.cmd: set a Windows 7 / 8.1 (Server 2008 R2 / 2012 R2) x64
rem guest up for chimney-nic and run the workload, reporting on COM1 to
rem scripts/run-windows.sh.  Start it once as administrator from the
rem driver CD (D:\chimney-setup.cmd); it copies itself to
rem %SystemDrive%\chimney-kit, registers a start-up task (SYSTEM) that
rem continues after the test-signing reboot and runs the workload at every
rem later boot, and skips every step that is already done:
rem
rem   1. the test certificate into Root and TrustedPublisher (certutil)
rem   2. test signing on (bcdedit), then a reboot
rem   3. the miniport package (pnputil -i -a chimneynic.inf)
rem   4. the intermediate driver (netcfg -l chimneyim.inf -c s -i ...)
rem   5. chimney on (netsh int tcp set global chimney=enabled)
rem   6. the workload: chimney-load.exe to the host peer named in
rem      chimney-run.cfg (on the run's second CD), IM counters reset first
rem   7. the report: driver versions and states, netsh, the IM counters
rem
rem   chimney-setup.cmd           do what is not done yet, then the workload
rem   chimney-setup.cmd /auto     the same, started by the start-up task
rem   chimney-setup.cmd /remove   delete the start-up task
rem   chimney-setup.cmd /?        this text
rem
rem Every line for the host starts with "@chimney " (README.txt on the CD).
rem For tests, CHIMNEY_OUT names a file instead of COM1, CHIMNEY_KIT the
rem kit directory, CHIMNEY_CFG the run configuration, and CHIMNEY_TOOL_x
rem replaces system tool x (certutil bcdedit reg pnputil netcfg sc netsh
rem schtasks shutdown wmic mode admin).
setlocal EnableExtensions DisableDelayedExpansion

if "%~1"=="/?" goto help
if /i "%~1"=="--help" goto help
if /i "%~1"=="-h" goto help

set "SRC=%~dp0"
set "KIT=%SystemDrive%\chimney-kit"
if defined CHIMNEY_KIT set "KIT=%CHIMNEY_KIT%"
set "OUT=COM1"
if defined CHIMNEY_OUT set "OUT=%CHIMNEY_OUT%"
set "LOG=%KIT%\setup.log"
set "REPORT=%KIT%\report.txt"
set "TASK=chimney-setup"
set "RESULT=ok"

call :tool CERTUTIL certutil
call :tool BCDEDIT bcdedit
call :tool REG reg
call :tool PNPUTIL pnputil
call :tool NETCFG netcfg
call :tool SC sc
call :tool NETSH netsh
call :tool SCHTASKS schtasks
call :tool SHUTDOWN shutdown
call :tool WMIC wmic
call :tool MODE mode
call :tool ADMIN "fsutil dirty query %SystemDrive%"

if not exist "%KIT%" mkdir "%KIT%"
if /i "%OUT%"=="COM1" call %MODE% COM1: BAUD=115200 PARITY=n DATA=8 STOP=1 >nul 2>&1

if /i "%~1"=="/remove" (
    call %SCHTASKS% /delete /tn %TASK% /f >nul 2>&1
    call :say step name=task status=removed
    exit /b 0
)

call :say hello kit=1 mode=%~1
call %ADMIN% >nul 2>&1
if errorlevel 1 (
    call :fatal not-administrator "run chimney-setup.cmd as administrator"
    exit /b 1
)

:: ---- 0. the kit on the system drive, the start-up task ----
if /i "%SRC%"=="%KIT%\" (
    call :say step name=copy status=skip detail=running-from-the-kit
) else (
    xcopy /y /q /i "%SRC%*" "%KIT%\" >nul 2>&1
    if errorlevel 1 (
        call :fatal copy "xcopy to %KIT% failed"
        exit /b 1
    )
    call :say step name=copy status=ok
)
call %SCHTASKS% /query /tn %TASK% >nul 2>&1
if errorlevel 1 (
    call %SCHTASKS% /create /f /tn %TASK% /sc onstart /delay 0000:30 /ru SYSTEM /rl highest /tr "%KIT%\chimney-setup.cmd /auto" >nul 2>&1
    if errorlevel 1 (
        call :say step name=task status=fail detail=schtasks
    ) else (
        call :say step name=task status=ok
    )
) else (
    call :say step name=task status=skip
)

:: ---- 1. the test certificate (adding twice is harmless) ----
call %CERTUTIL% -addstore Root "%KIT%\chimney-test.cer" >nul 2>&1
if errorlevel 1 (
    call :fatal cert "certutil -addstore Root failed"
    exit /b 1
)
call %CERTUTIL% -addstore TrustedPublisher "%KIT%\chimney-test.cer" >nul 2>&1
if errorlevel 1 (
    call :fatal cert "certutil -addstore TrustedPublisher failed"
    exit /b 1
)
call :say step name=cert status=ok

:: ---- 2. test signing, active in this boot ----
call %REG% query HKLM\SYSTEM\CurrentControlSet\Control /v SystemStartOptions 2>nul | find "TESTSIGNING" >nul
if not errorlevel 1 (
    call :say step name=testsigning status=skip detail=active
    goto drivers
)
if exist "%KIT%\testsigning-reboot.txt" (
    call :fatal testsigning "set, but not active after the reboot: Secure Boot on? boot with SeaBIOS or without enrolled keys"
    exit /b 1
)
call %BCDEDIT% /set testsigning on >nul 2>&1
if errorlevel 1 (
    call :fatal testsigning "bcdedit /set testsigning on failed (Secure Boot?)"
    exit /b 1
)
echo %DATE% %TIME% > "%KIT%\testsigning-reboot.txt"
call :say step name=testsigning status=reboot detail=the-start-up-task-continues
call %SHUTDOWN% /r /t 10 /c "chimney-setup: reboot to turn test signing on" >nul 2>&1
exit /b 0

:drivers
if exist "%KIT%\testsigning-reboot.txt" del "%KIT%\testsigning-reboot.txt"

:: ---- 3. the miniport ----
call :running chimneynic
if not errorlevel 1 (
    call :say step name=miniport status=skip detail=running
) else (
    call %PNPUTIL% -i -a "%KIT%\chimneynic.inf" >> "%LOG%" 2>&1
    if errorlevel 1 (
        call :fatal miniport "pnputil -i -a chimneynic.inf failed (setup.log)"
        goto report
    )
    call :wait_running chimneynic
    if errorlevel 1 (
        call :fatal miniport "chimneynic is installed but not running"
        goto report
    )
    call :say step name=miniport status=ok
)

:: ---- 4. the intermediate driver ----
call %NETCFG% -q qc_chimneyim 2>nul | find "not installed" >nul
if errorlevel 1 (
    call :say step name=im status=skip detail=installed
) else (
    call %NETCFG% -l "%KIT%\chimneyim.inf" -c s -i qc_chimneyim >> "%LOG%" 2>&1
    if errorlevel 1 (
        call :fatal im "netcfg -l chimneyim.inf failed (setup.log)"
        goto report
    )
    call :wait_running chimneyim
    if errorlevel 1 (
        call :fatal im "chimneyim is installed but not running"
        goto report
    )
    call :say step name=im status=ok
)

:: ---- 5. chimney ----
call %NETSH% int tcp set global chimney=enabled >> "%LOG%" 2>&1
if errorlevel 1 (
    call :fatal chimney "netsh int tcp set global chimney=enabled failed"
    goto report
)
call :say step name=chimney status=ok

:: ---- 6. the workload ----
set "CFG="
if defined CHIMNEY_CFG set "CFG=%CHIMNEY_CFG%"
if not defined CFG for %%D in (D E F G H I J K L M N O P Q R S T U V W X Y Z) do if not defined CFG if exist %%D:\chimney-run.cfg set "CFG=%%D:\chimney-run.cfg"
if not defined CFG (
    call :say step name=workload status=skip detail=no-chimney-run.cfg-this-boot-is-not-run-windows.sh
    goto report
)
set "RUN_host=10.0.2.2"
set "RUN_port="
set "RUN_conns=4"
set "RUN_mib=16"
set "RUN_seed=1"
for /f "usebackq eol=# tokens=1,* delims==" %%A in ("%CFG%") do set "RUN_%%A=%%B"
if not defined RUN_port (
    call :fatal workload "no port= in %CFG%"
    goto report
)
"%KIT%\chimney-im-stat.exe" reset >> "%LOG%" 2>&1
if errorlevel 1 call :say step name=im-reset status=fail
call :say step name=workload status=start detail=%RUN_conns%x%RUN_mib%MiB-to-%RUN_host%:%RUN_port%
if /i "%OUT%"=="COM1" (
    "%KIT%\chimney-load.exe" --host %RUN_host% --port %RUN_port% --conns %RUN_conns% --mib %RUN_mib% --seed %RUN_seed% --wait 300 --log "%LOG%" > COM1 2>&1
) else (
    "%KIT%\chimney-load.exe" --host %RUN_host% --port %RUN_port% --conns %RUN_conns% --mib %RUN_mib% --seed %RUN_seed% --wait 300 --log "%LOG%" >> "%OUT%" 2>&1
)
if errorlevel 1 (
    set "RESULT=fail"
    call :say step name=workload status=fail
) else (
    call :say step name=workload status=ok
)

:: ---- 7. the report ----
:report
type nul > "%REPORT%"
>>"%REPORT%" echo @chimney report-begin version=1
for /f "delims=" %%L in ('ver') do >>"%REPORT%" echo @chimney raw ver %%L
for %%N in (chimneynic chimneyim) do call :driver_state %%N
for /f "delims=" %%L in ('%WMIC% path Win32_PnPSignedDriver where "DeviceName like '%%chimney%%'" get DeviceName^,DriverVersion^,InfName^,IsSigned^,Signer /format:list 2^>nul') do >>"%REPORT%" echo @chimney raw wmic %%L
for /f "delims=" %%L in ('%NETSH% int tcp show global 2^>nul') do >>"%REPORT%" echo @chimney raw netsh %%L
for /f "delims=" %%L in ('"%KIT%\chimney-im-stat.exe" --machine 2^>nul') do >>"%REPORT%" echo @chimney im %%L
>>"%REPORT%" echo @chimney report-end status=%RESULT%
type "%REPORT%"
type "%REPORT%" >> "%LOG%"
if /i "%OUT%"=="COM1" (
    type "%REPORT%" > COM1
) else (
    type "%REPORT%" >> "%OUT%"
)
if "%RESULT%"=="ok" exit /b 0
exit /b 1

:: ---- helpers ----

:: :tool VAR default -- VAR is CHIMNEY_TOOL_<default> when set
:tool
set "%~1=%~2"
if defined CHIMNEY_TOOL_%~1 call set "%~1=%%CHIMNEY_TOOL_%~1%%"
exit /b 0

:say
echo @chimney %*
>>"%LOG%" echo @chimney %*
if /i "%OUT%"=="COM1" (
    >COM1 echo @chimney %*
) else (
    >>"%OUT%" echo @chimney %*
)
exit /b 0

:: :fatal step "why" -- a failed step: the report still follows
:fatal
set "RESULT=fail"
call :say step name=%~1 status=fail
call :say fatal step=%~1 reason=%~2
if "%~1"=="not-administrator" goto fatal_report
if "%~1"=="copy" goto fatal_report
if "%~1"=="cert" goto fatal_report
if "%~1"=="testsigning" goto fatal_report
exit /b 0
:fatal_report
call :say report-begin version=1
call :say report-end status=fail
exit /b 0

:: :running service -- errorlevel 0 when it runs
:running
call %SC% query %~1 2>nul | find "RUNNING" >nul
exit /b %errorlevel%

:wait_running
set /a WAITED=0
:wait_running_loop
call :running %1
if not errorlevel 1 exit /b 0
set /a WAITED+=1
if %WAITED% geq 30 exit /b 1
ping -n 2 127.0.0.1 >nul
goto wait_running_loop

:driver_state
set "STATE=absent"
for /f "tokens=4" %%S in ('%SC% query %1 2^>nul ^| find "STATE"') do set "STATE=%%S"
>>"%REPORT%" echo @chimney driver name=%1 state=%STATE%
set "F=%SystemRoot%\System32\drivers\%1.sys"
if not exist "%F%" exit /b 0
for /f "skip=1 delims=" %%H in ('%CERTUTIL% -hashfile "%F%" 2^>nul') do (
    >>"%REPORT%" echo @chimney driver name=%1 sha1=%%H
    exit /b 0
)
exit /b 0

:help
for /f "usebackq skip=2 tokens=1,* delims= " %%A in ("%~f0") do (
    if /i not "%%A"=="rem" goto help_end
    echo.%%B
)
:help_end
exit /b 0
